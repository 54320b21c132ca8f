"""What an offer costs now: the ``PriceChecker`` interface (checker.py), its two
sources (from_database.py, from_search.py), booking-internal offer references, and
the passenger pricing rule."""
