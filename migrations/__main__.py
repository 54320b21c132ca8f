"""Entry point: ``python -m migrations`` (see migrations/migrate.py)."""

import sys

from migrations.migrate import cli

sys.exit(cli())
