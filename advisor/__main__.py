"""`python -m advisor ...`: the same command line as the `advisor` script."""

from ._cli import main

main()
