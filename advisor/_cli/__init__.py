"""The command line, one module per command; `main` is the console script's entry point."""

from .main import cli, main

__all__ = ["cli", "main"]
