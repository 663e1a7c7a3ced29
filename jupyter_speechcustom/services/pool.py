"""A size-limited pool of recognizers, shared by the threads of a front end (the service, the Live tab)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_speechcustom.services.recognition import Recognizer

__all__ = ["RecognizerPool"]


class RecognizerPool:
    """Recognizers built once per key and kept, at most ``size`` of them: the least recently used
    is dropped first (a recognizer holds its models, which are large). Safe to share between
    threads; two threads asking for one key build it once."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a recognizer pool holds at least one recognizer, not {size}")
        self.size = size
        self._items: OrderedDict[Hashable, Recognizer] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], Recognizer]) -> Recognizer:
        """The recognizer of ``key``, made with ``build()`` the first time it is asked for."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            try:
                recognizer = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._items[key] = recognizer
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return recognizer

    def keys(self) -> list[Hashable]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
