"""Run steps, remember how to undo each, unwind in reverse on failure."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class UndoStack:
    def __init__(self, context: str, on_step: Callable[[str], None] | None = None):
        self.context = context
        self._undos: list[tuple[str, Callable[[], None]]] = []
        # Called after each step is recorded; fault injection hooks in here.
        self._on_step = on_step or (lambda _name: None)

    def push(self, name: str, undo: Callable[[], None]) -> None:
        self._undos.append((name, undo))
        self._on_step(name)

    def unwind(self) -> None:
        """Undo every finished step, newest first; a failed undo is logged."""
        while self._undos:
            name, undo = self._undos.pop()
            try:
                undo()
            except Exception:
                log.exception("undo failed step=%s %s", name, self.context)
            else:
                log.info("undone step=%s %s", name, self.context)
