"""The tracking service: users' price trackers, run exactly once per period."""
