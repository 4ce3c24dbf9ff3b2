"""The command line, one module per command; `main` is the console script's entry point."""

import os

# The engine's matrix products are a few columns wide: BLAS threads only synchronise there
# (an explained assessment took twice its wall time in CPU), and on a small machine they take a
# core from the batch's or the service's worker processes. One thread unless the user set it;
# OpenBLAS reads this when numpy loads, which no command has done yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .main import cli, main  # noqa: E402 - after the setting above

__all__ = ["cli", "main"]
