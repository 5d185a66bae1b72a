"""What a user can choose for each job kind, declared once (standard library only; bundled with the add-on).

Each option is one field of :class:`CaptureOptions`, :class:`CleanupOptions` or :class:`PeopleOptions`, declared with
:func:`option`: its type (the annotation), default, range or choices, the panel's label and one help text. Everything
else is built from these declarations:

- the panel's properties (``blender_scorehmr/properties.py``: a property per option, same default and range),
- the command line's arguments (``server/cli.py``: :func:`add_arguments`; a switch is ``--name`` / ``--no-name``),
- the batch manifest's columns (``server/jobs/batch/inputs.py``: any capture option may be set per clip),
- the protocol's ``Submit.options`` (``server/protocol.py``: the options of the job's kind, a tagged union),
- the batch's Ray tasks (the options travel as :meth:`Options.to_dict`).

Constructing an options object validates it (type, finite, range, choice) and raises :class:`OptionError` (code
``bad_request``) naming the option, so a bad value is refused before any work, whoever built it.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, Type, TypeVar, Union

Number = Union[int, float]
Choice = Tuple[str, str, str]   # (value, label, description), as a Blender EnumProperty item
RANGE_HINT = "Pick a value in the allowed range."
KINDS: Dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}


class OptionError(ValueError):
    """An option's value is not allowed (``code`` ``bad_request``: exit code 2 on the command line); ``message``
    names the option (as its command-line flag) and the allowed values, ``hint`` what to do."""

    code = "bad_request"

    def __init__(self, message: str, hint: str = RANGE_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Option:
    """One user option: ``name`` (the field), ``kind`` (bool, int, float or str), ``default``, ``low``/``high``
    (numbers: the allowed range; ``high`` None = no upper bound), ``choices`` (str: the allowed values with their
    labels), ``label`` (the panel's), ``help`` (the panel's tooltip and the command line's help), ``panel`` (the
    panel property's name: the field's name unless it differs for a saved file's sake)."""

    name: str
    kind: type
    default: Any
    help: str
    label: str
    low: Optional[Number] = None
    high: Optional[Number] = None
    choices: Tuple[Choice, ...] = ()
    panel: str = ""

    @property
    def flag(self) -> str:
        """The command line's flag, e.g. ``--foot-strength`` (a switch also has ``--no-foot-strength``)."""
        return "--" + self.name.replace("_", "-")

    @property
    def panel_name(self) -> str:
        return self.panel or self.name

    def allowed(self) -> str:
        """The allowed values in words, e.g. 'a whole number from 0 to 8'."""
        if self.kind is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(value for value, _, _ in self.choices)
        what = "a whole number" if self.kind is int else "a finite number"
        if self.high is None:
            return f"{what} >= {self.low:g}"
        return f"{what} from {self.low:g} to {self.high:g}"

    def check(self, value: Any) -> None:
        """Raise :class:`OptionError` unless ``value`` suits this option (type, finite, range, choice)."""
        if not self.accepts(value):
            raise OptionError(f"{self.flag} is {shown(value)}; it must be {self.allowed()}.")

    def accepts(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and value in {v for v, _, _ in self.choices}
        whole = isinstance(value, int) and not isinstance(value, bool)   # any size: never converted to a float
        number = whole or (isinstance(value, float) and math.isfinite(value))
        if not number or (self.kind is int and not (whole or value.is_integer())):
            return False
        return not (self.low is not None and value < self.low) and not (self.high is not None and value > self.high)

    def parse(self, text: str) -> Any:
        """``text`` (a manifest's CSV cell) as this option's value; raise :class:`OptionError`."""
        text = text.strip()
        try:
            if self.kind is bool:
                words = {"true": True, "yes": True, "on": True, "1": True,
                         "false": False, "no": False, "off": False, "0": False}
                return words[text.lower()]
            if self.kind is int:
                return int(text)
            if self.kind is float:
                return float(text)
        except (KeyError, ValueError):
            raise OptionError(f"{self.flag} is {shown(text)}; it must be {self.allowed()}.") from None
        return text


def option(default: Any, label: str, help: str, *, low: Optional[Number] = None, high: Optional[Number] = None,
           choices: Tuple[Choice, ...] = (), panel: str = "") -> Any:
    """Declare an options field: its default and the rest of its :class:`Option` (name and kind come from the
    field)."""
    spec = dict(default=default, label=label, help=help, low=low, high=high, choices=choices, panel=panel)
    return field(default=default, metadata={"option": spec})


def shown(value: Any) -> str:
    """``value`` for a message: a float as ``%g``, a huge whole number cut short, anything else as its repr."""
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


OptionsT = TypeVar("OptionsT", bound="Options")


@dataclass(frozen=True)
class Options:
    """Base of the options of one job kind: validated on construction; ``KIND`` is the job kind (``Submit.kind``)."""

    KIND: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for spec in options_of(type(self)):
            spec.check(getattr(self, spec.name))

    @classmethod
    def from_mapping(cls: Type[OptionsT], values: Mapping[str, Any]) -> OptionsT:
        """From a mapping of option names (missing ones take their default); unknown names raise OptionError."""
        unknown = sorted(set(values) - set(names_of(cls)))
        if unknown:
            raise OptionError(f"unknown option(s) {', '.join(unknown)}.", f"Options are {', '.join(names_of(cls))}")
        return cls(**values)

    @classmethod
    def from_args(cls: Type[OptionsT], args: argparse.Namespace) -> OptionsT:
        """From the command line's parsed arguments (:func:`add_arguments`)."""
        return cls(**{name: getattr(args, name) for name in names_of(cls) if hasattr(args, name)})

    def to_dict(self) -> Dict[str, Any]:
        """The options as plain JSON values (what ``Submit.options`` and a Ray task carry)."""
        return dataclasses.asdict(self)


STATURE_RANGE = (1.0, 2.5)    # metres a body's height may be set to
SHAPE_HINT = "Leave Height, Gender, Weight and Muscle as estimated, or use the built-in body"   # a body without a phenotype map


@dataclass(frozen=True)
class ShapeRequest:
    """What the user asked of the body: ``height`` metres (0: as estimated), ``gender``/``weight``/``muscle`` 0..1
    (negative: as estimated); :func:`server.body.phenotype.shaped_as_asked` applies it."""

    height: float = 0.0
    gender: float = -1.0
    weight: float = -1.0
    muscle: float = -1.0

    @property
    def phenotypes(self) -> Dict[str, float]:
        return {name: value for name, value in (("gender", self.gender), ("weight", self.weight),
                                                ("muscle", self.muscle)) if value >= 0}

    @property
    def empty(self) -> bool:
        return self.height <= 0 and not self.phenotypes


@dataclass(frozen=True)
class CaptureOptions(Options):
    """How a capture estimates, refines and places the body (footage, range and person are the job's inputs)."""

    KIND: ClassVar[str] = "capture"

    initial: str = option(
        "temporal", "Estimate", "How the first estimate is made: the temporal regressor over windows of frames "
        "(steadier and more accurate), the per-frame regressor, or the analytic solve",
        choices=(("temporal", "Temporal", "Windows of frames (steadier, more accurate)"),
                 ("learned", "Per Frame", "The per-frame regressor, frame by frame"),
                 ("analytic", "Analytic", "Solved from the keypoints, no network")))
    refine: bool = option(True, "Refine (ScoreHMR)", "Refine the first estimate with the diffusion prior so the body "
                          "matches the footage more closely and jitters less (slower; off: the first estimate)")
    iterations: int = option(2, "Quality", "Refinement iterations: more fit the footage more closely and take "
                             "longer", low=1, high=20)
    temporal: float = option(1.0, "Smoothing", "Temporal smoothing of the refinement (1 = default, 0 = none, up to "
                             "2; more removes jitter but softens fast moves)", low=0.0, high=2.0)
    hypotheses: int = option(0, "Alternatives", "Also make this many alternative takes: other plausible poses that "
                             "fit the footage as well (occluded limbs, depth ambiguity), stored beside the estimate "
                             "(Diff-HMR); 0 = none", low=0, high=8, panel="alternatives")
    place: bool = option(True, "Place on Ground", "Find the ground under the feet and stand the body on it (Z up, "
                         "floor at z = 0, camera at its measured height); steadies the distance from the camera. "
                         "Off: the camera is taken to be level", panel="place_on_ground")
    lock_feet: bool = option(True, "Lock Feet", "Hold each heel and toe still while it touches the ground (no foot "
                             "sliding); needs the body placed on the ground (Place on Ground, --place)")
    foot_strength: float = option(1.0, "Foot Strength", "How firmly feet in contact are held (1 = default, 0 = off)",
                                  low=0.0, high=3.0)
    align: bool = option(False, "Keypoint Alignment", "HMDiff-style alignment of the body to the keypoints in the "
                         "early refinement steps")
    motion_prior: bool = option(True, "Motion Prior", "Refine clips with the motion prior's windows of frames "
                                "(off: the per-frame prior)")
    hands: bool = option(True, "Fingers", "Find the performer's hands and key the finger bones (SMPL-H's 15 per hand): "
                         "the built-in body or an SMPL-H file; an SMPL file has no fingers. Costs about 9 ms per "
                         "frame on two cores (measured, docs/benchmarks.md)", panel="fingers")
    camera: str = option(
        "auto", "Camera", "Whether the camera turns during the clip (a hand-held phone pans, tilts and shakes): its "
        "rotation is then read off the background and the body is kept in the first frame's world, so a pan does not "
        "turn the performer",
        choices=(("auto", "Auto", "Check the footage: follow the camera only when it turns"),
                 ("static", "Static", "The camera stands still (a tripod)"),
                 ("moving", "Moving", "The camera turns: always follow it")))
    focal_mm: float = option(0.0, "Focal Length", "The lens's focal length as a 35 mm (full-frame) equivalent in mm, "
                             "as a phone reports it (26 mm for most main cameras); 0 = from the calibration or the "
                             "video's metadata, else the default (the long side in pixels, about 38 mm for 16:9)",
                             low=0.0, high=400.0)
    height: float = option(0.0, "Height", "The performer's height in metres (top of the head to the soles), if you "
                           "know it: the body is made that tall, keeping its build; 0 = estimated from the footage. "
                           "The built-in body only", low=0.0, high=STATURE_RANGE[1], panel="body_height")
    gender: float = option(-1.0, "Gender", "The body's gender on the built-in body's scale, 0 = male to 1 = female "
                           "(Anny's); -1 = estimated from the footage", low=-1.0, high=1.0, panel="body_gender")
    weight: float = option(-1.0, "Weight", "The body's weight, 0 = slight to 1 = heavy (Anny's scale); -1 = "
                           "estimated from the footage", low=-1.0, high=1.0, panel="body_weight")
    muscle: float = option(-1.0, "Muscle", "The body's muscle, 0 = little to 1 = much (Anny's scale); -1 = "
                           "estimated from the footage", low=-1.0, high=1.0, panel="body_muscle")

    def __post_init__(self) -> None:
        super().__post_init__()
        if 0 < self.height < STATURE_RANGE[0]:
            raise OptionError(f"--height is {self.height:g}; it must be 0 (estimated) or from {STATURE_RANGE[0]:g} to "
                              f"{STATURE_RANGE[1]:g} metres.")

    @property
    def shape(self) -> ShapeRequest:
        """What the options ask of the body's shape (:mod:`server.body.phenotype`)."""
        return ShapeRequest(height=self.height, gender=self.gender, weight=self.weight, muscle=self.muscle)


@dataclass(frozen=True)
class CleanupOptions(Options):
    """How a clean-up treats a motion (the motion file, mask and body are the job's inputs)."""

    KIND: ClassVar[str] = "cleanup"

    strength: float = option(1.0, "Strength", "How strongly the diffusion prior cleans the motion (1 = default, "
                             "0 = unchanged, up to 2)", low=0.0, high=2.0, panel="cleanup_strength")
    keep_root: bool = option(False, "Keep Root Motion", "Leave the root's rotation and translation as they are and "
                             "clean the body only", panel="cleanup_keep_root")
    lock_feet: bool = option(False, "Lock Feet", "Find the ground and the foot contacts and hold the feet still while "
                             "they touch the ground", panel="cleanup_lock_feet")
    method: str = option("auto", "Method", "The clean-up method: the benchmark's best (auto), DPoser's "
                         "optimisation, or guided diffusion sampling",
                         choices=(("auto", "Auto", "The method that measured best (docs/benchmarks.md)"),
                                  ("dposer", "DPoser", "Optimise the motion under the prior"),
                                  ("guided", "Guided", "Sample from the prior guided by the keys")),
                         panel="cleanup_method")


@dataclass(frozen=True)
class PeopleOptions(Options):
    """How Find People looks for people (the footage and range are the job's inputs)."""

    KIND: ClassVar[str] = "people"

    max_people: int = option(4, "Most People", "The most people looked for in one frame (more take longer: one "
                             "BlazePose pass per person)", low=1, high=8, panel="people_max")


JobOptions = Union[CaptureOptions, CleanupOptions, PeopleOptions]
# The options class of each job kind that has options (import_motion has none).
OPTIONS_OF_KIND: Dict[str, Type[Options]] = {cls.KIND: cls for cls in (CaptureOptions, CleanupOptions, PeopleOptions)}


def options_of(cls: Type[Options]) -> Tuple[Option, ...]:
    """The :class:`Option` of every field of ``cls``, in declaration order."""
    return _OPTIONS.get(cls) or _declare(cls)


def names_of(cls: Type[Options]) -> Tuple[str, ...]:
    return tuple(spec.name for spec in options_of(cls))


def option_of(cls: Type[Options], name: str) -> Option:
    """The :class:`Option` called ``name`` of ``cls`` (KeyError when there is none)."""
    for spec in options_of(cls):
        if spec.name == name:
            return spec
    raise KeyError(name)


_OPTIONS: Dict[type, Tuple[Option, ...]] = {}


def _declare(cls: Type[Options]) -> Tuple[Option, ...]:
    specs = tuple(Option(name=f.name, kind=KINDS[str(f.type)], **f.metadata["option"])
                  for f in dataclasses.fields(cls))
    _OPTIONS[cls] = specs
    return specs


def add_arguments(parser: argparse.ArgumentParser, cls: Type[Options], names: Optional[Tuple[str, ...]] = None) -> None:
    """Add ``cls``'s options (or those in ``names``) to ``parser``: a switch as ``--name`` / ``--no-name``, a choice
    with its values, a number with its type; every default the declared one (values are checked when the options
    object is built)."""
    for spec in options_of(cls):
        if names is not None and spec.name not in names:
            continue
        text = f"{spec.help} (default: {_default_text(spec)})"
        if spec.kind is bool:
            parser.add_argument(spec.flag, action=argparse.BooleanOptionalAction, default=spec.default,
                                help=text.replace("%", "%%"))
        elif spec.choices:
            parser.add_argument(spec.flag, choices=[v for v, _, _ in spec.choices], default=spec.default,
                                help=text.replace("%", "%%"))
        else:
            parser.add_argument(spec.flag, type=spec.kind, default=spec.default, metavar="N" if spec.kind is int else "S",
                                help=f"{text}; {spec.allowed()}".replace("%", "%%"))


def _default_text(spec: Option) -> str:
    if spec.kind is bool:
        return "on" if spec.default else "off"
    return str(spec.default)
