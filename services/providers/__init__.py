"""Upstream flight providers behind one interface (base.py), one module or package per
provider kind (amadeus/), picked by configuration (registry.py, config.py).

docs/adding-a-provider.md shows how to add one."""
