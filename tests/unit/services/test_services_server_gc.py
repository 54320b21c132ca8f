"""A serving process moves its startup heap out of the cyclic collector's reach
(services/server.py, ``freeze_startup_heap``): a full collection no longer walks it,
and startup garbage is collected before, not frozen with it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.server import freeze_startup_heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_the_startup_heap_is_frozen_after_its_garbage_is_collected(unfrozen: None) -> None:
    kept = Node()
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    freeze_startup_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0
    assert all(kept not in generation for generation in _generations())


def _generations() -> list[list[object]]:
    return [gc.get_objects(generation) for generation in range(3)]
