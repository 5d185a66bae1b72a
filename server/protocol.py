"""The one protocol between the Blender add-on and the worker (standard library only).

Messages travel as JSON Lines over the worker's stdin (add-on -> worker) and stdout (worker -> add-on);
the worker's stderr carries human-readable logs only. Large arrays never travel in a message: a result
names an ``.npz`` file inside the job folder. Every message is a frozen dataclass with ``to_wire()``
(one JSON line, no trailing newline) and is parsed back by :func:`from_wire`, which rejects unknown
message types, unknown or missing fields and wrong field types with :class:`ProtocolError`.

Both sides import this module; it must stay importable without numpy, torch or bpy.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, Union

from .options import OPTIONS_OF_KIND, JobOptions, OptionError

PROTOCOL_VERSION = 8   # 3: job kinds "cleanup" and "import_motion", Submit.motion, strength, keep_root, lock_feet
#                        4: the capture's "place" stage, Submit.place and foot_strength, Result.notes;
#                           job kind "people", Submit.person and person_boxes
#                        5: Submit.initial "temporal" (the temporal regressor), the default; Submit.calibration
#                        6: the "search" stage (looking for people: Find People, and a capture before it follows one)
#                        7: Submit.options, the options of the job's kind (server/options.py), replace the flat
#                           refine, iterations, temporal, initial, hypotheses, align, strength, keep_root, lock_feet,
#                           place and foot_strength fields
#                        8: the capture's "fingers" stage and option (Submit.options "hands"); results may have 54
#                           joints (SMPL's 24 and SMPL-H's 30 finger joints) with hand_confidence

# Job kinds (``Submit.kind``) and the stages each reports, in order; the add-on maps stages to panel text.
KIND_STAGES: Dict[str, Tuple[str, ...]] = {
    "capture": ("open", "search", "detect", "regress", "refine", "place", "fingers", "write"),
    "cleanup": ("cleanup",),
    "import_motion": ("import",),
    "people": ("open", "search", "write"),
}
STAGES: Tuple[str, ...] = ("open", "search", "detect", "regress", "refine", "place", "fingers", "write", "cleanup",
                           "import")

SETUP_HINT = "Open Preferences > Add-ons > ScoreHMR and press Set up worker"
LOG_HINT = "See the system console for the worker's log"


class ErrorCode(StrEnum):
    """Every failure code of the project, declared once: the value is the wire name ``Failed.code`` carries,
    ``exit_code`` the command line's exit status for it, ``meaning`` one line on what happened, ``hint`` what the
    user can do when the failure itself names nothing better (the panel shows it). ``worker`` is False for the
    add-on's own codes (about the worker process itself, or the result it wrote), which the worker never sends.
    A member is a str: it compares equal to, prints as and serialises to its wire name."""

    exit_code: int
    meaning: str
    hint: str
    worker: bool

    def __new__(cls, value: str, exit_code: int, meaning: str, hint: str = LOG_HINT,
                worker: bool = True) -> "ErrorCode":
        member = str.__new__(cls, value)
        member._value_ = value
        member.exit_code, member.meaning, member.hint, member.worker = exit_code, meaning, hint, worker
        return member

    BAD_REQUEST = ("bad_request", 2, "a malformed or unsupported request, or an option out of range",
                   "Update the add-on and the worker together")
    VIDEO_MISSING = ("video_missing", 3, "the footage file does not exist",
                     "Check the footage path in the ScoreHMR panel")
    VIDEO_UNREADABLE = ("video_unreadable", 4, "the file exists but cannot be decoded as video",
                        "Convert the footage to an .mp4 (H.264) file and try again")
    NO_PERSON = ("no_person", 5, "no person was detected in the requested range",
                 "Pick footage or a frame range where one person is fully visible")
    MISSING_PACKAGE = ("missing_package", 6, "a worker dependency is not installed", SETUP_HINT)
    BAD_BODY_MODEL = ("bad_body_model", 7, "the chosen body model file is not a usable SMPL model",
                      "Fix or clear Preferences > Add-ons > ScoreHMR > SMPL Model File")
    MISSING_WEIGHTS = ("missing_weights", 8, "a trained model's checkpoint was found nowhere it was looked for",
                       "Reinstall the add-on (its model weights ship inside it)")
    BAD_WEIGHTS = ("bad_weights", 9, "a checkpoint file is corrupt, not ours, or does not match the model",
                   "Reinstall the add-on, or clear a custom weights path")
    BAD_KEYPOINTS = ("bad_keypoints", 10, "a keypoints file is missing, malformed or has no usable landmarks")
    BAD_CALIBRATION = ("bad_calibration", 11, "a camera calibration file is unreadable or does not fit the clips")
    CAMERA_LOST = ("camera_lost", 13, "the camera's turn could not be followed through the clip (a cut, a whip pan "
                   "too fast to follow, a view with nothing to match: a bare wall, the person filling it)",
                   "Capture the clip in parts split at the frame named, or set Camera to Static")
    CANCELLED = ("cancelled", 130, "the job was cancelled by the user",
                 "Nothing was changed; press Capture Motion to start again")
    INTERNAL = ("internal", 1, "an unexpected error inside the worker")
    # the add-on's own (exit code 1: they never pass through the command line)
    WORKER_NOT_FOUND = ("worker_not_found", 1, "the worker's Python could not be started", SETUP_HINT, False)
    WORKER_CRASHED = ("worker_crashed", 1, "the worker stopped without answering", LOG_HINT, False)
    WORKER_HUNG = ("worker_hung", 1, "the worker gave no sign of life for too long and was stopped", LOG_HINT, False)
    WORKER_GARBAGE = ("worker_garbage", 1, "the worker printed something that is not a protocol message", LOG_HINT,
                      False)
    BAD_RESULT = ("bad_result", 1, "the worker's result file is missing or invalid", LOG_HINT, False)
    FILE_MISSING = ("file_missing", 1, "a file the user picked does not exist", LOG_HINT, False)
    NO_FOOTAGE = ("no_footage", 1, "no footage is chosen in the panel", LOG_HINT, False)
    BAD_RANGE = ("bad_range", 1, "the panel's frame range is empty or reversed", LOG_HINT, False)
    BAD_VIEWS = ("bad_views", 1, "the multi-view cameras' clips are missing or repeated", LOG_HINT, False)
    BUSY = ("busy", 1, "another job of the panel is still running", "Wait for it or press Cancel", False)
    NO_ARMATURE = ("no_armature", 1, "no armature to work on is selected", LOG_HINT, False)
    NO_SMPL_BONES = ("no_smpl_bones", 1, "the armature lacks the SMPL bones a capture keys", LOG_HINT, False)
    LINKED = ("linked", 1, "the object is linked from another file and cannot be changed",
              "Make it local (Object > Relations > Make Local)", False)
    NO_ACTION = ("no_action", 1, "the armature has no action to work on", LOG_HINT, False)
    EMPTY_ACTION = ("empty_action", 1, "the armature's action holds no keys", LOG_HINT, False)
    NAN_KEYS = ("nan_keys", 1, "keys in the range are not numbers", LOG_HINT, False)
    TARGET_GONE = ("target_gone", 1, "the object a job writes to was deleted meanwhile", LOG_HINT, False)
    SAME_RIG = ("same_rig", 1, "retargeting would copy a rig onto itself", LOG_HINT, False)
    BAD_MAP = ("bad_map", 1, "the retarget bone map is unusable", LOG_HINT, False)
    MISSING_BONES = ("missing_bones", 1, "the target rig lacks bones the map names", LOG_HINT, False)
    EXPORT_FAILED = ("export_failed", 1, "Blender could not write the BVH / FBX export", LOG_HINT, False)
    ERROR = ("error", 1, "any other failure the add-on reports", LOG_HINT, False)


# Failure codes carried by ``Failed.code`` (the worker's side of :class:`ErrorCode`).
ERROR_CODES: Tuple[str, ...] = tuple(code.value for code in ErrorCode if code.worker)


# The longest line either side reads (bytes, newline included); a longer line is answered as a bad request.
MAX_LINE_BYTES = 16 * 1024 * 1024


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol; ``job_id`` is the job it names, when it names one
    (so the answer can say which job's request was refused), else ``""``."""

    def __init__(self, message: str, job_id: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass(frozen=True)
class Message:
    """Base of all messages; subclasses set ``TYPE``."""

    TYPE: ClassVar[str] = ""

    def to_wire(self) -> str:
        """Encode as one JSON line (no newline), with the type tag under ``"type"``."""
        payload: Dict[str, Any] = {"type": self.TYPE}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            payload[f.name] = _plain(value)
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> Any:
    """A field's value as JSON: tuples as arrays, an options object as its object of options."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return dict(value)
    return list(value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class Ready(Message):
    """Worker -> add-on, once at start-up: the worker can take jobs."""

    TYPE: ClassVar[str] = "ready"
    protocol: int = PROTOCOL_VERSION
    worker_version: str = ""
    pid: int = 0


@dataclass(frozen=True)
class Submit(Message):
    """Add-on -> worker: run one job of ``kind`` (one of :data:`KIND_STAGES`: capture, cleanup, import_motion, people).

    ``options`` is the tagged union of the job's options: the kind is the tag, and the options are that kind's
    class of :mod:`server.options` (:data:`server.options.OPTIONS_OF_KIND`: CaptureOptions, CleanupOptions,
    PeopleOptions; import_motion has none). On the wire it is an object of option names; a missing one takes its
    declared default, and an unknown option, a wrong type or a value out of range is a bad request. ``None``
    (or no ``options`` on the wire) means every default.

    ``video`` is an absolute path; ``start``/``end`` are 0-based source-frame indices, ``end`` exclusive,
    ``-1`` meaning the end of the clip; the worker writes its files under ``job_dir``. ``body_model`` is the
    path of an official SMPL model file (.pkl or .npz) or empty for the built-in open body. ``views`` are further
    clips of the same performance, synchronised frame for frame with ``video`` (multi-view capture).

    Kinds ``cleanup`` and ``import_motion`` read ``motion`` (an absolute ``.npz`` path: a motion file for cleanup,
    an SMPL/AMASS file for import) and leave ``video`` empty. A clean-up with ``lock_feet`` gives a result that
    carries ``foot_contacts`` (N, 4) and ``ground`` (4,); a clip whose feet never rest fails with ``bad_request``.

    Capture: with ``place`` the result gains ``ground``, ``foot_contacts``, ``camera_height`` and
    ``world_rotation``. A capture whose feet never rest still succeeds, with a note in ``Result.notes``.

    Several people: kind ``people`` lists the people in ``video``'s ``start``/``end`` range; its ``Result.path`` is
    a JSON file (``people.json``, format in :mod:`server.detection.listing`), ``Result.frames`` the number of people, and
    ``Result.notes`` says where people cross. Capture (and ``people``-aware detection): ``person`` is a 1-based id
    from that listing (< 1: the most visible person); ``person_boxes`` (that listing's ``boxes`` of the chosen
    person, rows ``[frame, x0, y0, x1, y1]`` in pixels) makes the capture follow that person without listing the
    people again. A capture where the captured person crosses another says so in ``Result.notes``.

    Multi-view with known cameras: ``calibration`` is an absolute path of the cameras' calibration (Pose2Sim /
    Caliscope ``.toml`` or Qualisys ``.qca.txt``), one camera per clip (matched by name, else in order); the
    body is then fitted in one world frame (errors: ``bad_calibration``).
    """

    TYPE: ClassVar[str] = "submit"
    job_id: str
    kind: str
    video: str
    job_dir: str
    start: int = 0
    end: int = -1
    body_model: str = ""
    views: List[str] = field(default_factory=list)
    motion: str = ""
    person: int = -1
    person_boxes: List[List[float]] = field(default_factory=list)
    calibration: str = ""
    options: Optional[JobOptions] = None

    def __post_init__(self) -> None:
        options_class = OPTIONS_OF_KIND.get(self.kind)
        if self.options is None and options_class is not None:
            object.__setattr__(self, "options", options_class())
        elif self.options is not None and type(self.options) is not options_class:
            raise ProtocolError(f"a {self.kind!r} job takes "
                                f"{options_class.__name__ if options_class else 'no options'}, "
                                f"not {type(self.options).__name__}", self.job_id)


@dataclass(frozen=True)
class Progress(Message):
    """Worker -> add-on: ``done`` of ``total`` units of ``stage`` finished."""

    TYPE: ClassVar[str] = "progress"
    job_id: str
    stage: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class Result(Message):
    """Worker -> add-on: the job finished; ``path`` is the result ``.npz`` (schema in docs/cli.md); ``notes`` are
    user-facing remarks on the result (e.g. no ground was found)."""

    TYPE: ClassVar[str] = "result"
    job_id: str
    path: str
    frames: int = 0
    seconds: float = 0.0
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Failed(Message):
    """Worker -> add-on: the job (or the request) failed. ``hint`` says what the user can do."""

    TYPE: ClassVar[str] = "failed"
    job_id: str
    code: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class Cancel(Message):
    """Add-on -> worker: stop ``job_id`` at the next frame or step boundary."""

    TYPE: ClassVar[str] = "cancel"
    job_id: str


@dataclass(frozen=True)
class Shutdown(Message):
    """Add-on -> worker: finish and exit (closing stdin has the same effect)."""

    TYPE: ClassVar[str] = "shutdown"


AnyMessage = Union[Ready, Submit, Progress, Result, Failed, Cancel, Shutdown]
MESSAGE_TYPES: Dict[str, Type[Message]] = {
    cls.TYPE: cls for cls in (Ready, Submit, Progress, Result, Failed, Cancel, Shutdown)
}


def _check_type(name: str, value: Any, annotation: Any) -> None:
    """Raise ProtocolError unless ``value`` matches the (simple) field ``annotation``."""
    origin = typing.get_origin(annotation)
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(f"field {name!r} must be an array")
        (item_t,) = typing.get_args(annotation)
        for i, item in enumerate(value):
            _check_type(f"{name}[{i}]", item, item_t)
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"field {name!r} must be an object")
        key_t, val_t = typing.get_args(annotation)
        for key, item in value.items():
            _check_type(f"{name}.{key}", key, key_t)
            _check_type(f"{name}.{key}", item, val_t)
        return
    if origin is Union:
        if not any(_matches(value, arg) for arg in typing.get_args(annotation)):
            raise ProtocolError(f"field {name!r} has the wrong type")
        return
    if not _matches(value, annotation):
        raise ProtocolError(f"field {name!r} must be {getattr(annotation, '__name__', annotation)}")


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool)
    return isinstance(value, annotation)


def _finite(text: str) -> float:
    """A JSON number as float; NaN and infinities (``NaN``, ``Infinity``, ``1e999``) are refused, as ``to_wire``
    never writes them."""
    value = float(text)
    if not math.isfinite(value):
        raise ProtocolError(f"the number {text[:40]} is not finite")
    return value


def _not_finite(text: str) -> float:
    raise ProtocolError(f"the number {text} is not finite")


def _parse_json(line: Union[str, bytes]) -> Any:
    """The JSON value of one line; :class:`ProtocolError` for anything that is not one (too long, not UTF-8,
    malformed, nested too deeply, a number with too many digits, NaN or infinite)."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"the line is longer than {MAX_LINE_BYTES} bytes")
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("line is not UTF-8") from exc
    try:
        return json.loads(line, parse_float=_finite, parse_constant=_not_finite)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {line[:80]!r}") from exc
    except ProtocolError:
        raise
    except RecursionError as exc:
        raise ProtocolError("JSON nested too deeply") from exc
    except ValueError as exc:   # e.g. an integer with more digits than Python converts
        raise ProtocolError(f"a JSON value cannot be read: {str(exc)[:80]}") from exc


def from_wire(line: Union[str, bytes]) -> AnyMessage:
    """Parse one JSON line into its message; raise :class:`ProtocolError` on anything unexpected (its ``job_id``
    is the line's ``job_id`` when the line is an object that names one)."""
    payload = _parse_json(line)
    if not isinstance(payload, dict):
        raise ProtocolError("a message must be a JSON object")
    job_id = payload.get("job_id")
    try:
        return _message(payload)
    except ProtocolError as exc:
        raise ProtocolError(str(exc), job_id if isinstance(job_id, str) else "") from None


def _message(payload: Dict[str, Any]) -> AnyMessage:
    """The message a JSON object stands for (see :func:`from_wire`)."""
    tag = payload.pop("type", None)
    cls = MESSAGE_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {tag!r}")
    options = payload.pop("options", None) if cls is Submit else None
    _check_fields(cls, payload, repr(tag))
    if cls is Submit:
        payload["options"] = _options(payload["kind"], options)
    message = cls(**payload)
    if isinstance(message, Ready) and message.protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            f"worker speaks protocol {message.protocol}, this add-on speaks {PROTOCOL_VERSION}"
        )
    return message  # type: ignore[return-value]


def _check_fields(cls: type, payload: Dict[str, Any], what: str) -> None:
    """Raise ProtocolError unless ``payload`` holds every required field of the dataclass ``cls`` and no other,
    each of its type (a whole number where a float is expected becomes one, in place)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not (cls is Submit and f.name == "options")}
    unknown = set(payload) - set(fields)
    if unknown:
        raise ProtocolError(f"unknown field(s) for {what}: {sorted(unknown)}")
    for name, f in fields.items():
        if name not in payload:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError(f"missing field {name!r} for {what}")
            continue
        value = payload[name]
        if hints[name] is float and isinstance(value, int) and not isinstance(value, bool):
            payload[name] = float(value)
        _check_type(name, value, hints[name])


def _options(kind: str, value: Any) -> Optional[JobOptions]:
    """``Submit.options`` of a job of ``kind`` from its JSON object (None: the defaults); raise ProtocolError on an
    unknown option, a wrong type or a value the option does not allow."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("field 'options' must be an object")
    options_class = OPTIONS_OF_KIND.get(kind)
    if options_class is None:
        if value:
            raise ProtocolError(f"a {kind!r} job takes no options")
        return None
    _check_fields(options_class, value, f"{kind!r} options")
    try:
        return options_class(**value)  # type: ignore[return-value]
    except OptionError as exc:
        raise ProtocolError(exc.message) from None
