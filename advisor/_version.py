"""The advisor's version, read by the build and shown by `advisor --version`."""

__version__ = "0.1.0"
