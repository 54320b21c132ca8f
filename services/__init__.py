"""Shared library of the skyroute services: configuration, logging, errors,
interceptors, server bootstrap, Redis client and the token client."""
