"""Clients other services use to reach ours."""
