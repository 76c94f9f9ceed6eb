"""A value made on first use, once, for objects shared by the web server's threads."""

from __future__ import annotations

import threading


class Once:
    """A value made on first use, once, even when several threads ask for it together
    (a failed attempt leaves nothing behind, so the next use tries again)."""

    def __init__(self, make):
        self._make = make
        self._value = None
        self._lock = threading.Lock()

    def get(self):
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._make()
        return self._value
