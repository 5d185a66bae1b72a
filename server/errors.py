"""Domain errors of the worker: each carries a protocol code, a user message and a hint."""
from __future__ import annotations

from typing import Dict

from .protocol import ErrorCode

# CLI exit codes per protocol error code (``python -m server capture``), read off :class:`ErrorCode`.
EXIT_CODES: Dict[str, int] = {code.value: code.exit_code for code in ErrorCode if code.worker}


class JobError(Exception):
    """A job failed for a reason the user can act on.

    ``code`` is one of ``protocol.ERROR_CODES`` (an :class:`ErrorCode` or its wire name); ``message`` says what
    happened, ``hint`` what to do.
    """

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.code, ErrorCode.INTERNAL.exit_code)


class Cancelled(JobError):
    """The user cancelled the job; raised at the next frame or step boundary."""

    def __init__(self) -> None:
        super().__init__("cancelled", "Capture cancelled.", "Nothing was changed; press Capture Motion to start again.")


BODY_MODEL_HINT = ("Pick SMPL's basicModel_neutral_lbs_10_207_0_v1.0.0.pkl or the .npz from the SMPL website, "
                   "or leave empty for the built-in open body.")


class BodyModelError(JobError):
    """The chosen body model file is not a usable SMPL-format model (code ``bad_body_model``)."""

    def __init__(self, message: str, hint: str = BODY_MODEL_HINT) -> None:
        super().__init__("bad_body_model", message, hint)


WEIGHTS_HINT = ("Reinstall the add-on (it ships the trained models), or point the worker at a checkpoint file; "
                "when online it can also fetch them from the Hugging Face Hub.")


class WeightsError(JobError):
    """A trained model's checkpoint could not be found (``missing_weights``) or is not usable (``bad_weights``)."""

    def __init__(self, message: str, hint: str = WEIGHTS_HINT, code: str = "missing_weights") -> None:
        if code not in ("missing_weights", "bad_weights"):
            raise ValueError(f"not a weights error code: {code}")
        super().__init__(code, message, hint)
