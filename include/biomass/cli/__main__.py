"""``python -m biomass.cli ...``: the ``biomass`` console script without an installed entry point."""

import sys

from biomass.cli import main

if __name__ == "__main__":   # importing the module (a test walking every file) must not run the command
    sys.exit(main())
