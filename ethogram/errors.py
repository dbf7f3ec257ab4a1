"""The one exception type users see: a problem and its fix, never a deep traceback."""

from __future__ import annotations


class EthogramError(Exception):
    """A user-facing error: `problem` says what is wrong, `fix` says what to do about it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")
