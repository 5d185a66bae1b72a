"""The cleanup problem shared by both methods: target joint positions, their confidence and a start, all in the
prior's domain (camera frame: x right, y down, z forward).

The prior was trained on camera-frame root orientations of roughly level cameras. A sequence in SMPL's canonical
world frame (y up) is turned into that domain by a level camera in front of the body: the root rotation and all
positions are left-multiplied by ``CAMERA_FROM_WORLD = diag(1, -1, -1)`` (its own inverse, undone the same way).
The translation is carried as the pelvis position (``transl = pelvis - rest pelvis``), which turns with the frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, overload

import numpy as np
import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning, rigid_chain
from ..body.layout import JOINT_INDEX, NUM_JOINTS, SMPL_PARENTS
from ..body.rot6d import orthonormal_x, rotmat_to_rot6d, x_to_rotmats

CAMERA_FROM_WORLD = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
ROOT_FIT_JOINTS = tuple(JOINT_INDEX[n] for n in (
    "left_hip", "right_hip", "spine1", "spine2", "spine3", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder"))   # the torso: rigid enough to place the root from the joints about it
OBSERVED = 0.5          # a rotation counts as observed when some joint it moves has at least this confidence


@dataclass(frozen=True)
class Problem:
    """target (N, 24, 3) joint positions (metres, prior domain); weight (N, 24) confidence; rest (24, 3) rest
    joints of the body; x_start (N, 144) 6D start; pelvis_start (N, 3); fps."""

    target: Tensor
    weight: Tensor
    rest: Tensor
    x_start: Tensor
    pelvis_start: Tensor
    fps: float
    noise: Tensor = torch.full((NUM_JOINTS,), 0.01)  # (24,) metres: each joint's noise (estimate_noise)
    segments: Tuple[int, ...] = ()  # lengths of independent clips laid end to end; () = one clip
    contact: Optional[Tensor] = None   # (N, 24) weights: joints held at ``anchor`` (feet in contact)
    anchor: Optional[Tensor] = None    # (N, 24, 3) where each contacting joint is held
    # (normal (3,), offset, other level): joints kept above normal . p + offset = 0, unless deeper than other level
    floor: Optional[Tuple[Tensor, float, float]] = None

    @property
    def frames(self) -> int:
        return int(self.target.shape[0])

    @property
    def clips(self) -> Tuple[int, ...]:
        """The clip lengths (one clip of all frames when ``segments`` is empty)."""
        return tuple(self.segments) if self.segments else (self.frames,)


MIN_NOISE = 0.002       # metres: below this a clip counts as clean (keeps the data weight finite)


def check_segments(segments: Sequence[int], frames: int) -> Tuple[int, ...]:
    """Validate clip lengths laid end to end over ``frames`` (empty = one clip) -> tuple. Raises ValueError."""
    out = tuple(int(s) for s in segments) or (frames,)
    if sum(out) != frames or min(out) < 1:
        raise ValueError(f"segments {out} do not cover {frames} frames")
    return out


def acceleration_mask(segments: Sequence[int]) -> Tensor:
    """Clip lengths -> (N - 2,) bool: whether the second difference centred on frame n + 1 stays in one clip."""
    ids = torch.repeat_interleave(torch.arange(len(segments)), torch.tensor(segments, dtype=torch.long))
    return (ids[:-2] == ids[2:]) if len(ids) > 2 else torch.zeros(0, dtype=torch.bool)


def estimate_noise(target: Tensor, weight: Tensor, segments: Sequence[int]) -> Tensor:
    """Noise per coordinate (metres) of each joint's trajectory, from its third differences (which human motion at
    >= 24 fps barely excites): for white noise of std s a third difference has std sqrt(20) s; the median absolute
    value over the trusted frames (robust to real jerks) / 0.6745 / sqrt(20). target (N, 24, 3), weight (N, 24)
    -> (24,), at least MIN_NOISE; a joint with too few trusted frames gets the median of the others."""
    values: list = [[] for _ in range(target.shape[1])]
    start = 0
    for length in segments:
        y, w = target[start:start + length], weight[start:start + length] >= OBSERVED
        start += length
        if length < 4:
            continue
        d3 = (y[3:] - 3.0 * y[2:-1] + 3.0 * y[1:-2] - y[:-3]).abs()
        ok = w[3:] & w[2:-1] & w[1:-2] & w[:-3]
        for j in range(target.shape[1]):
            values[j].append(d3[:, j][ok[:, j]].reshape(-1))
    noise = torch.full((target.shape[1],), float("nan"))
    for j, parts in enumerate(values):
        v = torch.cat(parts) if parts else torch.zeros(0)
        if v.numel() >= 3:
            noise[j] = float(v.median()) / 0.6745 / 20.0 ** 0.5
    known = noise[torch.isfinite(noise)]
    fill = float(known.median()) if known.numel() else MIN_NOISE
    return torch.nan_to_num(noise, nan=fill).clamp_min(MIN_NOISE)


def rest_joints(skinning: LandmarkSkinning, betas: Tensor) -> Tensor:
    """betas (B,) -> rest joints (24, 3) of the shaped body (SMPL canonical frame, metres)."""
    b = torch.nn.functional.pad(betas.float(), (0, max(0, skinning.num_betas - betas.numel())))[:skinning.num_betas]
    return skinning.joint_template + torch.einsum("jcb,b->jc", skinning.joint_shapedirs, b)


def joints_of(rest: Tensor, x: Tensor, pelvis: Tensor) -> Tensor:
    """rest (24, 3), x (N, 144) 6D, pelvis (N, 3) -> posed joints (N, 24, 3) with joint 0 at ``pelvis``."""
    rest_n = rest.expand(x.shape[0], -1, -1)
    posed, _, _ = rigid_chain(x_to_rotmats(x), rest_n, SMPL_PARENTS)
    return posed - rest_n[:, :1] + pelvis[:, None]


def moved_by() -> np.ndarray:
    """(24, 24) bool: [j, k] = the rotation of joint j moves joint k's position (k a strict descendant of j)."""
    out = np.zeros((NUM_JOINTS, NUM_JOINTS), bool)
    for k in range(NUM_JOINTS):
        p = SMPL_PARENTS[k]
        while p >= 0:
            out[p, k] = True
            p = SMPL_PARENTS[p]
    return out


def observed_rotations(confidence: np.ndarray) -> np.ndarray:
    """(N, 24) joint confidence -> (N, 24) bool: whether each joint's rotation is pinned down by trusted joints
    (a joint it moves is trusted; for the end joints, which move none, their own confidence)."""
    moves = moved_by()
    trusted = confidence >= OBSERVED
    through = (trusted[:, None, :] & moves[None]).any(-1)
    leaf = ~moves.any(1)
    return np.where(leaf[None], trusted, through)


def interpolate_rotations(x: Tensor, observed: np.ndarray, neutral: Tensor) -> Tensor:
    """x (N, 144) 6D, observed (N, 24) bool, neutral (144,) -> (N, 144): unobserved joint rotations replaced by the
    linear interpolation (in 6D, re-orthonormalised) of the observed frames, held at the ends; joints never observed
    take the neutral rotation."""
    n = x.shape[0]
    out = x.detach().clone().reshape(n, NUM_JOINTS, 6).numpy()
    neutral6 = neutral.detach().reshape(NUM_JOINTS, 6).numpy()
    frames = np.arange(n)
    for j in range(NUM_JOINTS):
        ok = observed[:, j]
        if ok.all():
            continue
        if not ok.any():
            out[:, j] = neutral6[j]
            continue
        out[:, j] = np.stack([np.interp(frames, frames[ok], out[ok, j, c]) for c in range(6)], -1)
    return orthonormal_x(torch.from_numpy(out).reshape(n, -1))


def _swing(a: Tensor, b: Tensor) -> Tensor:
    """The minimal rotations (N, 3, 3) turning a (N, 3) onto b (N, 3)."""
    u = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    v = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    axis = torch.cross(u, v, dim=-1)
    c = (u * v).sum(-1, keepdim=True).clamp(-0.999999, 1.0)
    zero = torch.zeros_like(c[:, 0])
    k = torch.stack([zero, -axis[:, 2], axis[:, 1], axis[:, 2], zero, -axis[:, 0], -axis[:, 1], axis[:, 0], zero],
                    -1).reshape(-1, 3, 3)
    return torch.eye(3) + k + (k @ k) / (1.0 + c[..., None])


def kabsch(a: Tensor, b: Tensor, w: Tensor) -> Tensor:
    """Rotations (N, 3, 3) minimising sum_k w_k ||R a_k - b_k||^2: a, b (N, K, 3), w (N, K); where a frame has a
    single vector with weight (K = 1, or the others unknown) the minimal (swing) rotation onto it, as the fit
    leaves the turn about it free; frames without evidence get the identity."""
    best = w.argmax(1)
    rows = torch.arange(a.shape[0])
    rot = _swing(a[rows, best], b[rows, best])
    if a.shape[1] > 1:
        cov = (w[..., None] * b).transpose(1, 2) @ a                              # (N, 3, 3): sum w b a^T
        u, _, vt = torch.linalg.svd(cov)
        d = torch.sign(torch.det(u @ vt))
        fitted = u @ torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1)) @ vt
        several = (w > 0).sum(1) >= 2
        rot = torch.where(several[:, None, None], fitted, rot)
    none = w.sum(1) < OBSERVED
    return torch.where(none[:, None, None], torch.eye(3).expand_as(rot), rot)


def _torso_turn(rest: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """(N, 3, 3): the rigid rotation of the rest torso about the pelvis onto the targets (confidence-weighted)."""
    torso = list(ROOT_FIT_JOINTS)
    a = (rest[torso] - rest[0]).expand(target.shape[0], -1, -1)
    return kabsch(a, target[:, torso] - target[:, :1], weight[:, torso] * weight[:, :1])


def analytic_start(rest: Tensor, target: Tensor, weight: Tensor, neutral: Tensor,
                   root: Optional[Tensor] = None, reference: Optional[Tensor] = None) -> Tensor:
    """Swing-only inverse kinematics: rest (24, 3), target joints (N, 24, 3), weight (N, 24), neutral (144,) ->
    x (N, 144). The root's rotation points its three bones (hips, spine) at the targets; in frames where one is
    untrusted it is the rigid fit of the rest torso (ROOT_FIT_JOINTS about the pelvis) instead, which stays defined
    with the hips unknown. Each other joint's global rotation is the smallest turn (after its parent's) that points its bone(s) at the targets
    (Kabsch over several children: spine3); the twist stays at zero. Joints whose children are untrusted, and the
    end joints, keep the neutral local rotation. ``root`` (N, 3, 3): a known root rotation, used as it is.
    ``reference`` (N, 144) 6D: per-frame local rotations to start each joint from instead of the neutral pose (the
    swing then keeps their twist, and the end joints keep them as they are); its root rotation is not used."""
    n = target.shape[0]
    source = neutral[None].expand(n, -1) if reference is None else reference
    neutral_rot = x_to_rotmats(source).clone()                                     # (N, 24, 3, 3)
    neutral_rot[:, 0] = torch.eye(3)
    children = [[k for k in range(NUM_JOINTS) if SMPL_PARENTS[k] == j] for j in range(NUM_JOINTS)]
    glob: list = [None] * NUM_JOINTS
    local = torch.empty(n, NUM_JOINTS, 3, 3)
    for j in range(NUM_JOINTS):
        p = SMPL_PARENTS[j]
        g_p = torch.eye(3).expand(n, 3, 3) if p < 0 else glob[p]
        kids = children[j]
        if not kids:
            local[:, j] = neutral_rot[:, j]
            glob[j] = g_p @ local[:, j]
            continue
        a = ((g_p @ neutral_rot[:, j]) @ (rest[kids] - rest[j]).T).transpose(1, 2)  # (N, K, 3) bones after neutral
        b = target[:, kids] - target[:, j:j + 1]
        w = weight[:, kids] * weight[:, j:j + 1]
        turn = kabsch(a, b, w)
        if p < 0:
            turn = torch.where((w >= OBSERVED).all(1)[:, None, None], turn, _torso_turn(rest, target, weight))
            turn = turn if root is None else root
        glob[j] = turn @ g_p @ neutral_rot[:, j]
        local[:, j] = g_p.transpose(1, 2) @ glob[j]
    return rotmat_to_rot6d(local).reshape(n, -1)


@overload
def to_prior_domain(rotmats: Tensor, points: Tensor, world: bool) -> Tuple[Tensor, Tensor]: ...


@overload
def to_prior_domain(rotmats: Tensor, points: None, world: bool) -> Tuple[Tensor, None]: ...


def to_prior_domain(rotmats: Tensor, points: Optional[Tensor], world: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """Root rotations (N, 24, 3, 3) and points (N, ..., 3) of a world-frame sequence -> the prior's (camera)
    domain, and back (the map is its own inverse); camera-frame input passes through."""
    if not world:
        return rotmats, points
    rot = rotmats.clone()
    rot[:, 0] = CAMERA_FROM_WORLD @ rot[:, 0]
    return rot, None if points is None else points @ CAMERA_FROM_WORLD


def smooth_path(points: Tensor, strength, segments: Sequence[int] = ()) -> Tensor:
    """Implicit acceleration step on clips of points (N, ..., 3): ``argmin ||p - points||^2 + strength ||D2 p||^2``
    per channel and per clip of ``segments`` (a zero-phase low-pass; 0 = unchanged). ``strength``: a number or a
    tensor of one value per channel (the flattened ``...`` of one frame)."""
    from ..refine.smoothing import SMOOTH_WINDOW, difference_basis, implicit_step
    strength = torch.as_tensor(strength, dtype=torch.float32)
    if bool((strength <= 0).all()):
        return points
    out, start = [], 0
    for n in check_segments(segments, points.shape[0]):
        part = points[start:start + n]
        start += n
        if n >= 3:
            clip = Clip(n, difference_basis(min(n, SMOOTH_WINDOW), 2))
            part = implicit_step(clip, part.reshape(n, -1), strength).reshape(part.shape)
        out.append(part)
    return torch.cat(out)


@dataclass
class Clip:
    """What :func:`server.refine.smoothing.implicit_step` needs: clip length, eigenbasis of one window."""

    frames: int
    smooth: Tuple[Tensor, Tensor]
