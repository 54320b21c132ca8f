"""Services depend on the shared library, never on each other's packages: what two
services share (the schema's Base and Money, for one) lives in services/. Only the
tools that stand above them (migrations/, inventory_seed/, the CLI, tests, benchmarks)
may import several services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROJECT_PACKAGES = {
    "services",
    "token_service",
    "search_service",
    "booking_service",
    "account_service",
    "provider_sim",
    "migrations",
    "inventory_seed",
    "skyroute_cli",
    "benchmarks",
    "scripts",
    "tests",
}
# Each package and the project packages it may import besides itself.
ALLOWED = {
    "services": set(),
    "token_service": {"services"},
    "search_service": {"services"},
    "booking_service": {"services"},
    "account_service": {"services"},
    "provider_sim": {"services"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages that ``path`` imports, at any depth of the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & PROJECT_PACKAGES
    return found


def test_the_check_sees_imports_anywhere_in_a_module(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import services.db\n"
        "def f() -> None:\n"
        "    from search_service.models import Fare\n"
        "    import booking_service.models as m\n"
    )
    assert imported_packages(module) == {"services", "search_service", "booking_service"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_itself_and_the_shared_library(package: str) -> None:
    allowed = ALLOWED[package] | {package}
    crossing = {
        str(path.relative_to(ROOT)): sorted(imported - allowed)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "generated" not in path.relative_to(ROOT / package).parts
        and (imported := imported_packages(path)) - allowed
    }
    assert crossing == {}
