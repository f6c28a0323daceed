"""The server's collector settings: start-up frozen, thresholds raised, cycles still found."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chatwatch.server.gc_tuning import GC_THRESHOLDS, tune_for_server


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_start_up_and_raises_thresholds() -> None:
    gc.unfreeze()
    tune_for_server()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 1000  # the imported modules' objects


@pytest.mark.usefixtures("restored_gc")
def test_cycles_are_still_collected_after_tuning() -> None:
    tune_for_server()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2  # the pair is garbage a collection finds, frozen or not
