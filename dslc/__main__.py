"""`python -m dslc` entry point."""

from dslc.cli import main

main()
