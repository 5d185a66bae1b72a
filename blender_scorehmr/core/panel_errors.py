"""User-facing errors of the add-on (no bpy): every error carries a message and a hint."""
from __future__ import annotations

from ..server.protocol import SETUP_HINT, ErrorCode

__all__ = ["SETUP_HINT", "ErrorCode", "ScoreHMRError"]


class ScoreHMRError(Exception):
    """An error the panel shows: ``message`` says what went wrong, ``hint`` what the user can do, ``code`` its
    :class:`ErrorCode`, ``details`` the worker's log tail behind it (shown under the error; "" when none)."""

    def __init__(self, message: str, hint: str = "", code: str = ErrorCode.ERROR, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
