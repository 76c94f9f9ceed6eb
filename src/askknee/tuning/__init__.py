"""Fitting, cross-validation, calibration and evaluation reports.

This package imports the core; the core and the serving entry points never import it. What it
fits is written beside the index and read back by the core without it.
"""
