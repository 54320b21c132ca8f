"""Benchmarks: ``python -m benchmarks.token_bench`` (``make bench-token``)."""
