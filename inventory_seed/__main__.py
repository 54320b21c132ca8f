"""Entry point: ``python -m inventory_seed`` (see inventory_seed/seed.py)."""

import sys

from inventory_seed.seed import cli

sys.exit(cli())
