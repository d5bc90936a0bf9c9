"""Run the CLI: ``python -m pmsync``."""

from pmsync.cli import main

main()
