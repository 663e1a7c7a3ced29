"""The recognizer pool: built once per key, the least recently used dropped first, shared by threads."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from jupyter_speechcustom.services.pool import RecognizerPool


def test_least_recently_used_is_dropped_first() -> None:
    pool = RecognizerPool(2)
    built: list[str] = []

    def make(name: str) -> Any:
        def build() -> Any:
            built.append(name)
            return object()
        return build

    base = pool.get("base", make("base"))
    first = pool.get("lm-1", make("lm-1"))
    assert pool.get("base", make("base")) is base  # base is now the most recent
    pool.get("lm-2", make("lm-2"))  # over the size: lm-1, the least recently used, goes
    assert pool.keys() == ["base", "lm-2"]
    assert pool.get("lm-1", make("lm-1")) is not first
    assert built == ["base", "lm-1", "lm-2", "lm-1"]


def test_threads_asking_for_one_key_build_it_once() -> None:
    pool = RecognizerPool(4)
    calls: list[int] = []
    results: list[Any] = []

    def build() -> Any:
        calls.append(1)
        time.sleep(0.2)  # a slow model load, during which the other threads ask for the same key
        return object()

    threads = [threading.Thread(target=lambda: results.append(pool.get("k", build))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_a_failed_build_is_not_kept() -> None:
    pool = RecognizerPool(2)

    def broken() -> Any:
        raise RuntimeError("the model file is damaged")

    with pytest.raises(RuntimeError):
        pool.get("k", broken)
    assert pool.keys() == []
    marker = object()
    assert pool.get("k", lambda: marker) is marker


def test_a_pool_holds_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RecognizerPool(0)
