"""The configuration tables of the docs, printed from the settings' declarations.

    python -m scripts.settings_tables           # print every table
    python -m scripts.settings_tables --write   # rewrite the tables in README.md and docs/

Each table sits in its document between ``<!-- settings: KEY -->`` and
``<!-- /settings -->``; tests/unit/services/test_settings_docs.py fails when one is out
of date.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from account_service import settings as account
from booking_service import settings as booking
from search_service import settings as search
from services.config import Setting, markdown
from token_service import settings as token

ROOT = Path(__file__).resolve().parents[1]
_SHARED = tuple(item for item in search.DECLARED if item in booking.DECLARED)


def _only(items: tuple[type | Setting, ...]) -> tuple[type | Setting, ...]:
    return tuple(item for item in items if item not in _SHARED)


# (document, key) -> the table
TABLES: dict[tuple[str, str], str] = {
    ("README.md", "token"): markdown("variable", token.DECLARED),
    ("docs/operations.md", "shared"): markdown("search and booking", _SHARED),
    ("docs/operations.md", "search"): markdown("search (port 50061)", _only(search.DECLARED)),
    ("docs/operations.md", "booking"): markdown("booking (port 50071)", _only(booking.DECLARED)),
    ("docs/operations.md", "account"): markdown(
        "account (port 50081)", tuple(i for i in account.DECLARED if i not in booking.DECLARED)
    ),
}


def block(key: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- settings: {key} -->\n)(.*?)(\n<!-- /settings -->)", re.S)


def rewrite(text: str, key: str, table: str) -> str:
    new, count = block(key).subn(lambda m: m[1] + table + m[3], text)
    if count != 1:
        raise SystemExit(f"no <!-- settings: {key} --> block")
    return new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the docs' tables")
    args = parser.parse_args()
    for (doc, key), table in TABLES.items():
        if args.write:
            path = ROOT / doc
            path.write_text(rewrite(path.read_text(), key, table))
        else:
            print(f"<!-- {doc}: {key} -->\n{table}\n")


if __name__ == "__main__":
    main()
