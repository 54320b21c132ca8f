"""A test's own Redis key space, deleted when it is done (single Redis or Cluster)."""

from __future__ import annotations

from services.redis_client import sync_client


def delete_matching(redis_url: str, pattern: str) -> None:
    """Deletes the keys matching ``pattern`` (a test's own prefix, e.g. ``prefix:*``).
    On a Cluster the client splits the delete by slot."""
    client = sync_client(redis_url)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
