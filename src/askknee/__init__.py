"""askknee: grounded, offline Q&A over health articles."""

import os

# OpenMP threads that spin while idle make one-question searches (faiss, torch) up to 20x slower
# whenever the cores are shared (Gradio's workers, other processes): sleep instead. Read once, when
# the OpenMP runtime loads, so it is set here, before any submodule imports faiss or torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
