"""BVH reader: HIERARCHY (OFFSET, CHANNELS in any rotation order, position channels on any joint, End Site)
and MOTION (Frames, Frame Time), plus forward kinematics to global rotations and positions.

Conventions: a joint's rotation channels compose in the order listed, ``R = R_first @ R_second @ R_third`` with
angles in degrees; ``v_parent = R_local @ v_joint + translation``. Position channels: on the ROOT they add to its
OFFSET (iClone and ReActIdle files put the rest hip height in the root OFFSET and motion relative to it; CMU roots
have a zero OFFSET, so both readings agree there); on any other joint they replace its OFFSET (ReActIdle writes
the OFFSET itself into them).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..body.rotations import euler_to_rotmat
from .skeleton_motion import Skeleton, SourceMotion

log = logging.getLogger(__name__)

_CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")


class BvhError(ValueError):
    """A malformed BVH file; the message says where."""


@dataclass(frozen=True, eq=False)
class Bvh:
    """A parsed file. channels[j] the channel names of joint j (empty for end sites); data (T, C) the MOTION
    values, columns in file order; ``columns[j]`` the first column of joint j's channels; frame_time in seconds."""

    skeleton: Skeleton
    channels: Tuple[Tuple[str, ...], ...]
    columns: Tuple[int, ...]
    data: np.ndarray
    frame_time: float

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[0])


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items = text.split()
        self.pos = 0

    def next(self) -> str:
        if self.pos >= len(self.items):
            raise BvhError("unexpected end of file in HIERARCHY")
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, word: str) -> None:
        got = self.next()
        if got != word:
            raise BvhError(f"expected {word!r}, got {got!r} (token {self.pos})")

    def floats(self, count: int) -> List[float]:
        try:
            return [float(self.next()) for _ in range(count)]
        except ValueError as exc:
            raise BvhError(f"bad number near token {self.pos}: {exc}") from exc


def _parse_joint(tok: _Tokens, name: str, parent: int, out: dict) -> None:
    """Reads one joint block after its name (recursive over children)."""
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    tok.expect("{")
    tok.expect("OFFSET")
    out["offsets"].append(tok.floats(3))
    channels: Tuple[str, ...] = ()
    word = tok.next()
    if word == "CHANNELS":
        channels = tuple(tok.next() for _ in range(int(tok.next())))
        unknown = set(channels) - set(_CHANNELS)
        if unknown:
            raise BvhError(f"joint {name}: unknown channels {sorted(unknown)}")
        word = tok.next()
    out["channels"].append(channels)
    while word != "}":
        if word == "JOINT":
            _parse_joint(tok, tok.next(), index, out)
        elif word == "End":
            tok.expect("Site")
            out["names"].append(f"{name}_end")
            out["parents"].append(index)
            tok.expect("{")
            tok.expect("OFFSET")
            out["offsets"].append(tok.floats(3))
            out["channels"].append(())
            tok.expect("}")
        else:
            raise BvhError(f"joint {name}: unexpected {word!r}")
        word = tok.next()


def parse_bvh(text: str, source: str = "<string>") -> Bvh:
    """BVH text -> :class:`Bvh`. Raises :class:`BvhError` with the file name on malformed input."""
    head, sep, motion = text.partition("MOTION")
    if not sep:
        raise BvhError(f"{source}: no MOTION section")
    tok = _Tokens(head)
    out: dict = {"names": [], "parents": [], "offsets": [], "channels": []}
    try:
        tok.expect("HIERARCHY")
        tok.expect("ROOT")
        _parse_joint(tok, tok.next(), -1, out)
    except BvhError as exc:
        raise BvhError(f"{source}: {exc}") from exc
    frames, frame_time, data = _parse_motion(motion, sum(len(c) for c in out["channels"]), source)
    columns, col = [], 0
    for ch in out["channels"]:
        columns.append(col)
        col += len(ch)
    skeleton = Skeleton(tuple(out["names"]), tuple(out["parents"]), np.asarray(out["offsets"], dtype=np.float64))
    return Bvh(skeleton, tuple(out["channels"]), tuple(columns), data, frame_time)


def _parse_motion(text: str, num_channels: int, source: str) -> Tuple[int, float, np.ndarray]:
    """The MOTION section -> (frames, frame time, data (T, C))."""
    lines = text.strip().splitlines()
    if len(lines) < 2 or not lines[0].strip().startswith("Frames:") or "Frame Time:" not in lines[1]:
        raise BvhError(f"{source}: MOTION must start with 'Frames:' and 'Frame Time:'")
    frames = int(lines[0].split(":")[1])
    frame_time = float(lines[1].split(":")[1])
    values = np.array(" ".join(lines[2:]).split(), dtype=np.float64)
    if frames == 0:
        return 0, frame_time, np.zeros((0, num_channels))
    if values.size < frames * num_channels:
        raise BvhError(f"{source}: {values.size} values for {frames} frames x {num_channels} channels")
    if values.size > frames * num_channels:
        log.warning("%s: %d trailing values ignored", source, values.size - frames * num_channels)
    return frames, frame_time, values[:frames * num_channels].reshape(frames, num_channels)


def read_bvh(path: Union[str, Path]) -> Bvh:
    """Reads a BVH file (see :func:`parse_bvh`)."""
    p = Path(path)
    return parse_bvh(p.read_text(encoding="utf-8", errors="replace"), str(p))


def local_transforms(bvh: Bvh, frames: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-joint local rotations (T, S, 3, 3) and translations (T, S, 3) from the channels (degrees -> radians)."""
    data = bvh.data if frames is None else bvh.data[np.asarray(frames)]
    count = len(bvh.skeleton.names)
    rot = np.broadcast_to(np.eye(3), (data.shape[0], count, 3, 3)).copy()
    trans = np.broadcast_to(bvh.skeleton.offsets, (data.shape[0], count, 3)).copy()
    for j, channels in enumerate(bvh.channels):
        col = bvh.columns[j]
        order = "".join(c[0] for c in channels if c.endswith("rotation"))
        rot_cols = [col + k for k, c in enumerate(channels) if c.endswith("rotation")]
        if rot_cols:
            rot[:, j] = euler_to_rotmat(np.radians(data[:, rot_cols]), order)
        base = bvh.skeleton.offsets[j] if bvh.skeleton.parents[j] < 0 else np.zeros(3)
        for k, c in enumerate(channels):
            if c.endswith("position"):
                axis = "XYZ".index(c[0])
                trans[:, j, axis] = base[axis] + data[:, col + k]
    return rot, trans


def global_transforms(skeleton: Skeleton, local_rot: np.ndarray,
                      local_trans: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Forward kinematics: local rotations (T, S, 3, 3), translations (T, S, 3) -> global rotations (T, S, 3, 3),
    positions (T, S, 3)."""
    rot = np.empty_like(local_rot)
    pos = np.empty_like(local_trans)
    for j, p in enumerate(skeleton.parents):
        if p < 0:
            rot[:, j], pos[:, j] = local_rot[:, j], local_trans[:, j]
        else:
            rot[:, j] = rot[:, p] @ local_rot[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], local_trans[:, j])
    return rot, pos


def scale_root_positions(bvh: Bvh, factor: float) -> Bvh:
    """The same file with the root's position channels multiplied by ``factor`` (files whose root motion is in
    other units than their offsets)."""
    data = bvh.data.copy()
    col = bvh.columns[0]
    for k, c in enumerate(bvh.channels[0]):
        if c.endswith("position"):
            data[:, col + k] *= factor
    return Bvh(bvh.skeleton, bvh.channels, bvh.columns, data, bvh.frame_time)


def tpose_floor_root_scale(bvh: Bvh, up_axis: int = 1) -> float:
    """Root-position unit factor from a prepended T-pose frame 0 standing on the floor (up coordinate 0):
    (height of the root above the lowest joint, in offset units) / (root height in position-channel units)."""
    rot, pos = global_transforms(bvh.skeleton, *local_transforms(bvh, [0]))
    above = pos[0, 0, up_axis] - pos[0, :, up_axis].min()
    raw = pos[0, 0, up_axis] - bvh.skeleton.offsets[0, up_axis]
    if raw <= 0:
        raise BvhError(f"root height {raw} at frame 0 cannot give a unit factor")
    return float((above - bvh.skeleton.offsets[0, up_axis]) / raw)


def bvh_motion(bvh: Bvh, fps: Optional[float] = None) -> SourceMotion:
    """The whole clip as a :class:`SourceMotion`; ``fps`` overrides the header's Frame Time when it is wrong."""
    rot, pos = global_transforms(bvh.skeleton, *local_transforms(bvh))
    rate = fps if fps is not None else 1.0 / bvh.frame_time
    return SourceMotion(bvh.skeleton, rot, pos, float(rate))
