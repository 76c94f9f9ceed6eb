"""askknee: grounded, offline Q&A over health articles."""

__version__ = "0.1.0"
