"""The booking tables (models.py) and all of the booking service's SQL (repository.py)."""
