"""Development and test inventory for the search service's tables (airports, airlines,
flights, fares): a deterministic generator (generator.py, data.py) and the loader with
its command line (seed.py), run as ``python -m inventory_seed``. A tool of its own, not
part of any service: the services only read what it loads."""
