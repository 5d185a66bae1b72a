"""User-facing errors of the add-on (no bpy): every error carries a message and a hint."""
from __future__ import annotations

SETUP_HINT = "Open Preferences > Add-ons > ScoreHMR and press Set up worker"


class ScoreHMRError(Exception):
    """An error the panel shows: ``message`` says what went wrong, ``hint`` what the user can do."""

    def __init__(self, message: str, hint: str = "", code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
