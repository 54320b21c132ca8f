"""Every metric the services export, from their own registries built in-process: each
``*Metrics`` class of the service packages (a class whose constructor takes only the
registry) registered on one registry, as the services do at start."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from prometheus_client import CollectorRegistry

PACKAGES = (
    "services",
    "token_service",
    "search_service",
    "booking_service",
    "account_service",
)


def metric_classes() -> list[type]:
    found: dict[str, type] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if info.name.endswith("__main__") or ".generated" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__ or not name.endswith("Metrics"):
                    continue
                if list(inspect.signature(cls).parameters) == ["registry"]:
                    found[f"{cls.__module__}.{name}"] = cls
    return [found[key] for key in sorted(found)]


def service_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    for cls in metric_classes():
        cls(registry)
    return registry


def family_names(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def series_names(registry: CollectorRegistry) -> set[str]:
    """The names a PromQL expression can select: every sample name, and for families
    that have no sample yet (labelled, never used) the names their type gives them."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "summary": ("_count", "_sum"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in registry.collect():
        names.update(sample.name for sample in family.samples)
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names
