"""The docs' configuration tables are printed from the settings' declarations: every
declared setting is documented with its default, and nothing undeclared is."""

from __future__ import annotations

import dataclasses
import inspect
import re
from types import ModuleType

import pytest

from account_service import settings as account
from booking_service import settings as booking
from scripts.settings_tables import ROOT, TABLES, block
from search_service import settings as search
from services import config, db, session_revocation
from services.clients import token_settings
from services.config import Setting, declared
from services.providers import config as provider_config
from token_service import settings as token


@pytest.mark.parametrize(("doc", "key"), list(TABLES))
def test_docs_table_is_generated_from_the_declarations(doc: str, key: str) -> None:
    match = block(key).search((ROOT / doc).read_text())
    assert match is not None, f"{doc} has no <!-- settings: {key} --> block"
    assert match[2] == TABLES[(doc, key)], (
        f"{doc} ({key}) is out of date: run python -m scripts.settings_tables --write"
    )


def _declaring_classes(module: ModuleType) -> set[type]:
    return {
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if dataclasses.is_dataclass(obj)
        and obj.__module__ == module.__name__
        and any(declared(obj))
    }


def _settings(module: ModuleType) -> set[Setting]:
    return {obj for _, obj in inspect.getmembers(module) if isinstance(obj, Setting)}


def test_every_declaration_is_in_a_table() -> None:
    listed = (
        set(token.DECLARED) | set(search.DECLARED) | set(booking.DECLARED) | set(account.DECLARED)
    )
    modules = (
        config,
        db,
        token_settings,
        provider_config,
        session_revocation,
        token,
        search,
        booking,
        account,
    )
    found: set[type | Setting] = set()
    for module in modules:
        found |= _declaring_classes(module) | _settings(module)
    # TOKEN_WAIT_TIMEOUT_SECONDS: a deprecated alias, named in its successor's line.
    assert found - listed == {token._DeprecatedWait}


def test_documented_variables_are_declared() -> None:
    text = "\n".join(TABLES.values())
    documented = set(re.findall(r"^\| `([A-Z0-9_<>]+?)(?:\[_FILE\])?` \|", text, re.M))
    declared_names = {
        name.strip("`").removesuffix("[_FILE]")
        for items in (token.DECLARED, search.DECLARED, booking.DECLARED, account.DECLARED)
        for name, _ in config.rows(items)
    }
    assert documented == declared_names
    assert {
        "TOKEN_SERVICE_ADDRESSES",
        "PAGE_TOKEN_SECRET",
        "BOOKING_HOLD_SECONDS",
        "TOKEN_LOCK_TTL_SECONDS",
        "DB_POOL_SIZE",
    } <= documented


def test_a_default_appears_beside_its_variable() -> None:
    assert (
        "| `BOOKING_HOLD_SECONDS` | hold length (900) |"
        in TABLES[("docs/operations.md", "booking")]
    )
    assert "| `PAGE_TOKEN_SECRET[_FILE]` |" in TABLES[("docs/operations.md", "search")]
