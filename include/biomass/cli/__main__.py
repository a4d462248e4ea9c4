"""``python -m biomass.cli ...``: the ``biomass`` console script without an installed entry point."""

import sys

from biomass.cli import main

sys.exit(main())
