"""Initial body estimate: an analytic, per-frame solve from BlazePose landmarks to SMPL parameters (numpy only).

No smoothing and no learning: every frame is solved on its own from the observed bone directions.

* Pelvis (global orientation, straight into the camera frame because MediaPipe's world landmarks have camera
  axes): frame from the hip line (body's +x) and the hip-midpoint -> shoulder-midpoint direction (Gram-Schmidt).
  So forward lean of the whole torso is carried by the pelvis (hip flexion), as an animator would key it.
* Spine: the shoulder line's remaining swing relative to the pelvis (twist about the spine and side bend, never
  forward bend) is shared evenly by spine1, spine2 and spine3. Pelvis and spine are refined together for a few
  fixed-point iterations because a bent spine tilts the hip -> shoulder chord.
* Collars: identity; the shoulders take all the arm motion (BlazePose has nothing to tell a shrug from an arm raise).
* Neck and head: the face frame (ear line + ear-midpoint -> nose) relative to spine3, shared evenly.
* Hip/shoulder: swing to the observed bone, twisted so the next bone lies in the observed bend plane (the knee or
  elbow hinge); the twist fades out for nearly straight limbs (bend below ~6-17 degrees) where the plane is noise.
  Knee/elbow: swing to the observed bone. Ankle: foot frame (heel -> toe, and for the roll the shin plus heel -> ankle). Wrist: hand frame (wrist -> knuckle
  midpoint, pinky -> index). Toes (SMPL foot) and SMPL hand joints: identity (BlazePose does not see them).
* Low visibility: BlazePose's guesses for occluded landmarks are plausible (a T-posed arm popping in would not
  be), so they are used as they are. Only landmarks marked missing (visibility ~0, or non-finite values) make the
  rotations they define fall back to their rest relation to the parent (local identity), fading in between
  VIS_LOW and VIS_HIGH. Degenerate geometry (zero-length or parallel vectors) never yields NaN.
* Translation: weighted linear least squares on the perspective equations of the 2D keypoints and the metric
  world landmarks (see :func:`camera_translation`); the focal length is the caller's assumption (the worker passes
  f = max(width, height) pixels, principal point at the image centre).
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np

from ..body.layout import JOINT_INDEX, LANDMARK_INDEX, NUM_JOINTS, NUM_LANDMARKS, SMPL_PARENTS
from ..body.rotations import (forward_kinematics, frame_from_two_vectors, normalize, rotation_between_vectors,
                             rotmat_to_rotvec, rotvec_to_rotmat, scale_rotmat)
from ..body.skeleton import rest_landmarks

log = logging.getLogger(__name__)

VIS_LOW = 0.0             # at or below: the landmark counts as missing, its rotations fall back to rest
VIS_HIGH = 0.01           # at or above: the observation is used fully
BEND_LOW, BEND_HIGH = 0.1, 0.3   # sin(bend angle) over which the twist from the bend plane fades in
SPINE_ITERATIONS = 4
MIN_TRANSLATION_LANDMARKS = 4    # visible (>= 0.5) landmarks needed for the weighted translation solve
MIN_DEPTH = 0.3           # metres; a solved depth below this is rejected
DEFAULT_DEPTH = 3.0       # metres; depth used when no frame of the clip gives a translation

_L = LANDMARK_INDEX
_J = JOINT_INDEX
_SPINE = (_J["spine1"], _J["spine2"], _J["spine3"])


def _smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """(...) -> (...) 0 below ``low``, 1 above ``high``, smooth in between."""
    t = np.clip((np.asarray(x, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _sanitize(world_landmarks: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 33, 4) -> positions (N, 33, 3) float64 and visibility (N, 33); non-finite landmarks get position 0
    and visibility 0, visibility is clipped to [0, 1]."""
    lm = np.asarray(world_landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (NUM_LANDMARKS, 4):
        raise ValueError(f"world landmarks must have shape (N, 33, 4), got {lm.shape}")
    bad = ~np.all(np.isfinite(lm), axis=-1)
    pos = np.where(bad[..., None], 0.0, lm[..., :3])
    vis = np.where(bad, 0.0, np.clip(np.nan_to_num(lm[..., 3]), 0.0, 1.0))
    return pos, vis


def _weight(vis: np.ndarray, *names: str) -> np.ndarray:
    """(N, 33) visibility -> (N,) blend weight from the least visible of the named landmarks."""
    return _smoothstep(vis[:, [_L[n] for n in names]].min(axis=1), VIS_LOW, VIS_HIGH)


def _mid(pos: np.ndarray, a: str, b: str) -> np.ndarray:
    """(N, 33, 3) -> (N, 3) midpoint of two named landmarks."""
    return 0.5 * (pos[:, _L[a]] + pos[:, _L[b]])


def _blend(parent: np.ndarray, observed: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Global rotations (N, 3, 3) of a parent and of the observed child, weight (N,) -> the child's global rotation
    whose local rotation is the observed one scaled by ``weight`` (0 = rest relative to the parent)."""
    local = np.swapaxes(parent, -1, -2) @ observed
    return parent @ scale_rotmat(local, weight)


def _relative(parent: np.ndarray, child: np.ndarray) -> np.ndarray:
    """Global rotations (N, 3, 3) of parent and child -> (N, 3, 3) child's local rotation."""
    return np.swapaxes(parent, -1, -2) @ child


def _spine_chord(rest: np.ndarray, spine_rotvec: np.ndarray) -> np.ndarray:
    """(24, 3) rest joints, (N, 3) whole-spine rotation -> (N, 3) hip midpoint -> shoulder midpoint in the pelvis
    frame when the spine rotation is shared evenly by spine1..3 (collars at identity)."""
    each = rotvec_to_rotmat(spine_rotvec / 3.0)
    glob = np.broadcast_to(np.eye(3), each.shape)
    point = np.broadcast_to(rest[_SPINE[0]], spine_rotvec.shape).astype(np.float64)
    chain = (*_SPINE, _J["left_shoulder"])  # shoulder midpoint hangs off spine3 through the (identity) collars
    shoulder_mid = 0.5 * (rest[_J["left_shoulder"]] + rest[_J["right_shoulder"]])
    for parent, child in zip(chain[:-1], chain[1:]):
        glob = glob @ each
        target = shoulder_mid if child == _J["left_shoulder"] else rest[child]
        point = point + glob @ (target - rest[parent])
    hip_mid = 0.5 * (rest[_J["left_hip"]] + rest[_J["right_hip"]])
    return point - hip_mid


def _solve_pelvis_spine(pos: np.ndarray, vis: np.ndarray, rest: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Landmarks (N, 33, 3), visibility (N, 33), rest joints (24, 3) -> pelvis global rotation (N, 3, 3) and the
    rotation of each of spine1..3 (N, 3, 3) (the whole spine's rotation split in three)."""
    hip_line = pos[:, _L["left_hip"]] - pos[:, _L["right_hip"]]
    up = _mid(pos, "left_shoulder", "right_shoulder") - _mid(pos, "left_hip", "right_hip")
    shoulder_line = pos[:, _L["left_shoulder"]] - pos[:, _L["right_shoulder"]]
    rest_hip_line = rest[_J["left_hip"]] - rest[_J["right_hip"]]
    rest_shoulder_line = rest[_J["left_shoulder"]] - rest[_J["right_shoulder"]]
    weight = _weight(vis, "left_shoulder", "right_shoulder", "left_hip", "right_hip")
    observed = frame_from_two_vectors(hip_line, up)
    spine = np.zeros((pos.shape[0], 3))
    for _ in range(SPINE_ITERATIONS):
        rest_frame = frame_from_two_vectors(np.broadcast_to(rest_hip_line, up.shape), _spine_chord(rest, spine))
        pelvis = observed @ np.swapaxes(rest_frame, -1, -2)
        local_line = np.einsum("nba,nb->na", pelvis, shoulder_line)  # pelvis.T @ shoulder_line
        swing = rotation_between_vectors(np.broadcast_to(rest_shoulder_line, local_line.shape), local_line)
        spine = rotmat_to_rotvec(swing) * weight[:, None]
    return pelvis, rotvec_to_rotmat(spine / 3.0)


def _solve_head(pos: np.ndarray, vis: np.ndarray, rest_lm: np.ndarray, spine3: np.ndarray) -> np.ndarray:
    """Landmarks (N, 33, 3), visibility (N, 33), rest landmarks (33, 3), spine3 global rotation (N, 3, 3) -> the
    local rotation (N, 3, 3) given to each of neck and head (the face's rotation relative to spine3, halved)."""
    def face_frame(p: np.ndarray) -> np.ndarray:
        ear_line = p[..., _L["left_ear"], :] - p[..., _L["right_ear"], :]
        nose = p[..., _L["nose"], :] - 0.5 * (p[..., _L["left_ear"], :] + p[..., _L["right_ear"], :])
        return frame_from_two_vectors(ear_line, nose)

    head = face_frame(pos) @ face_frame(rest_lm).T
    weight = _weight(vis, "nose", "left_ear", "right_ear")
    return scale_rotmat(_relative(spine3, head), 0.5 * weight)


def _limb_globals(parent: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, rest_abc: np.ndarray,
                  hinge: np.ndarray, weights: Tuple[np.ndarray, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Two-bone limb. parent (N, 3, 3) global rotation of the limb's parent; a, b, c (N, 3) observed root, middle
    and end landmarks; rest_abc (3, 3) the same in the rest pose; hinge (3,) rest axis about which the middle joint
    bends (sign: (b - a) x (c - b) for a normal bend); weights (upper, lower) (N,) visibility blends.
    Returns global rotations (N, 3, 3) of the upper and the lower bone."""
    d, e = b - a, c - b
    rest_d, rest_e = rest_abc[1] - rest_abc[0], rest_abc[2] - rest_abc[1]
    swing = rotation_between_vectors(parent @ rest_d, d) @ parent
    axis = normalize(d)
    hinge = normalize(hinge - (hinge @ normalize(rest_d)) * normalize(rest_d))
    predicted = swing @ hinge
    normal = np.cross(axis, normalize(e))
    bend = np.linalg.norm(normal, axis=-1)
    normal = normalize(normal)
    twist = np.arctan2(np.sum(axis * np.cross(predicted, normal), -1), np.sum(predicted * normal, -1))
    twist = twist * _smoothstep(bend, BEND_LOW, BEND_HIGH) * weights[1]
    upper = _blend(parent, rotvec_to_rotmat(axis * twist[:, None]) @ swing, weights[0])
    lower = _blend(upper, rotation_between_vectors(upper @ rest_e, e) @ upper, weights[1])
    return upper, lower


def _end_global(parent: np.ndarray, primary: np.ndarray, secondary: np.ndarray, rest_primary: np.ndarray,
                rest_secondary: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """End segment (foot or hand) from two observed directions (N, 3) and their rest counterparts (3,):
    global rotation (N, 3, 3), blended toward the parent's (N, 3, 3) by visibility weight (N,)."""
    observed = frame_from_two_vectors(primary, secondary) @ frame_from_two_vectors(rest_primary, rest_secondary).T
    return _blend(parent, observed, weight)


def _solve_leg(local: np.ndarray, pelvis: np.ndarray, pos: np.ndarray, vis: np.ndarray, rest_lm: np.ndarray,
               side: str) -> None:
    """Fill the hip, knee and ankle local rotations of one side into ``local`` (N, 24, 3, 3) in place."""
    names = [f"{side}_hip", f"{side}_knee", f"{side}_ankle"]
    weights = (_weight(vis, *names[:2]), _weight(vis, *names[1:]))
    root, middle, end = (pos[:, _L[n]] for n in names)
    thigh, shin = _limb_globals(pelvis, root, middle, end, rest_lm[[_L[n] for n in names]],
                                np.array([1.0, 0.0, 0.0]), weights)
    heel, toe, knee, ankle = (_L[f"{side}_{n}"] for n in ("heel", "foot_index", "knee", "ankle"))

    def foot_up(p: np.ndarray) -> np.ndarray:
        # The foot's roll: shin direction (steady; assumes no inversion/eversion) plus the heel -> ankle direction
        # (rigid in the foot, keeps the frame defined when the foot points along the shin).
        return normalize(p[..., knee, :] - p[..., ankle, :]) + normalize(p[..., ankle, :] - p[..., heel, :])

    foot = _end_global(shin, pos[:, toe] - pos[:, heel], foot_up(pos), rest_lm[toe] - rest_lm[heel],
                       foot_up(rest_lm), _weight(vis, f"{side}_heel", f"{side}_foot_index", f"{side}_ankle"))
    local[:, _J[f"{side}_hip"]] = _relative(pelvis, thigh)
    local[:, _J[f"{side}_knee"]] = _relative(thigh, shin)
    local[:, _J[f"{side}_ankle"]] = _relative(shin, foot)


def _solve_arm(local: np.ndarray, chest: np.ndarray, pos: np.ndarray, vis: np.ndarray, rest_lm: np.ndarray,
               side: str) -> None:
    """Fill the shoulder, elbow and wrist local rotations of one side into ``local`` (N, 24, 3, 3) in place
    (the collar stays identity, so the shoulder's parent rotation is spine3's ``chest`` (N, 3, 3))."""
    names = [f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"]
    weights = (_weight(vis, *names[:2]), _weight(vis, *names[1:]))
    hinge = np.array([0.0, -1.0 if side == "left" else 1.0, 0.0])  # elbow bends the forearm toward the front
    root, middle, end = (pos[:, _L[n]] for n in names)
    upper, fore = _limb_globals(chest, root, middle, end, rest_lm[[_L[n] for n in names]], hinge, weights)
    wrist, index, pinky = (_L[f"{side}_{n}"] for n in ("wrist", "index", "pinky"))
    knuckles, rest_knuckles = 0.5 * (pos[:, index] + pos[:, pinky]), 0.5 * (rest_lm[index] + rest_lm[pinky])
    hand = _end_global(fore, knuckles - pos[:, wrist], pos[:, index] - pos[:, pinky],
                       rest_knuckles - rest_lm[wrist], rest_lm[index] - rest_lm[pinky],
                       _weight(vis, f"{side}_wrist", f"{side}_index", f"{side}_pinky"))
    local[:, _J[f"{side}_shoulder"]] = _relative(chest, upper)
    local[:, _J[f"{side}_elbow"]] = _relative(upper, fore)
    local[:, _J[f"{side}_wrist"]] = _relative(fore, hand)


def solve_poses(world_landmarks: np.ndarray, rest_joints: np.ndarray,
                rest_lm: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, 33, 4) BlazePose world landmarks (camera-aligned metres + visibility), (24, 3) rest joints ->
    (N, 24, 3) float32 axis-angle in SMPL order: [:, 0] global orientation mapping SMPL's canonical frame into the
    camera frame, [:, 1:] rotations relative to the parent. Always finite. See the module doc for the method.

    ``rest_lm`` (33, 3): the body's own rest landmarks (from a body model's landmark regressor, same frame as
    ``rest_joints``); by default they come from the skeleton's stated attachments (``skeleton.rest_landmarks``)."""
    pos, vis = _sanitize(world_landmarks)
    n = pos.shape[0]
    rest = np.asarray(rest_joints, dtype=np.float64)
    if n == 0:
        return np.zeros((0, NUM_JOINTS, 3), dtype=np.float32)
    rest_lm = rest_landmarks(rest) if rest_lm is None else np.asarray(rest_lm, dtype=np.float64)
    local = np.tile(np.eye(3), (n, NUM_JOINTS, 1, 1))
    pelvis, spine_each = _solve_pelvis_spine(pos, vis, rest)
    local[:, 0] = pelvis
    for j in _SPINE:
        local[:, j] = spine_each
    chest = pelvis @ spine_each @ spine_each @ spine_each
    neck_head = _solve_head(pos, vis, rest_lm, chest)
    local[:, _J["neck"]] = neck_head
    local[:, _J["head"]] = neck_head
    for side in ("left", "right"):
        _solve_leg(local, pelvis, pos, vis, rest_lm, side)
        _solve_arm(local, chest, pos, vis, rest_lm, side)
    poses = rotmat_to_rotvec(local)
    if not np.all(np.isfinite(poses)):  # cannot happen with the guarded helpers; never hand NaN onward
        log.warning("non-finite rotations in %d frames replaced by rest", int((~np.isfinite(poses)).any(-1).any(-1).sum()))
        poses = np.nan_to_num(poses, nan=0.0, posinf=0.0, neginf=0.0)
    return poses.astype(np.float32)


def _fill_missing(values: np.ndarray, ok: np.ndarray, default: np.ndarray) -> np.ndarray:
    """(N, 3) values with (N,) validity -> each invalid row replaced by the nearest earlier valid row (or the
    first valid one for leading rows); ``default`` (3,) when no row is valid."""
    if not ok.any():
        return np.broadcast_to(default, values.shape).copy()
    index = np.where(ok, np.arange(len(ok)), 0)
    index = np.maximum.accumulate(index)
    index = np.where(np.arange(len(ok)) < np.argmax(ok), np.argmax(ok), index)
    return values[index]


def camera_translation(keypoints_2d: np.ndarray, world_landmarks: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame position (N, 3) of the world landmarks' origin (the hip midpoint), metres.

    keypoints_2d (N, 33, 3): pixels (x right, y down) + visibility; world_landmarks (N, 33, 4); intrinsics (3, 3).
    For each landmark X (camera-aligned, hip-centred) with normalised image point (x, y) = K^-1 (u, v, 1):
    (X + tx) - x (Z + tz) = 0 and (Y + ty) - y (Z + tz) = 0, solved by linear least squares weighted by the
    landmark's visibility. Frames with fewer than MIN_TRANSLATION_LANDMARKS visible landmarks use every landmark
    (BlazePose's guesses); frames still ill-posed or with depth < MIN_DEPTH take the nearest valid frame's value.
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    pos, vis3 = _sanitize(world_landmarks)
    k = np.asarray(intrinsics, dtype=np.float64)
    good = np.all(np.isfinite(kp), axis=-1)
    uv = np.where(good[..., None], kp[..., :2], 0.0)
    x = (uv[..., 0] - k[0, 2] - k[0, 1] * (uv[..., 1] - k[1, 2]) / k[1, 1]) / k[0, 0]
    y = (uv[..., 1] - k[1, 2]) / k[1, 1]
    vis = np.where(good, np.minimum(np.clip(np.nan_to_num(kp[..., 2]), 0, 1), vis3), 0.0)
    few = (vis >= 0.5).sum(axis=1) < MIN_TRANSLATION_LANDMARKS
    weight = np.where(few[:, None], np.where(good, 1.0, 0.0), vis)
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    a = np.concatenate([np.stack([ones, zeros, -x], -1), np.stack([zeros, ones, -y], -1)], axis=1)  # (N, 66, 3)
    b = np.concatenate([x * pos[..., 2] - pos[..., 0], y * pos[..., 2] - pos[..., 1]], axis=1)      # (N, 66)
    w = np.concatenate([weight, weight], axis=1)
    ata = np.einsum("nki,nk,nkj->nij", a, w, a)
    atb = np.einsum("nki,nk,nk->ni", a, w, b)
    well_posed = np.linalg.eigvalsh(ata)[:, 0] > 1e-6 * np.maximum(np.trace(ata, axis1=1, axis2=2), 1e-12)
    safe = np.where(well_posed[:, None, None], ata, np.eye(3))
    t = np.linalg.solve(safe, atb[..., None])[..., 0]
    ok = well_posed & np.all(np.isfinite(t), axis=-1) & (t[:, 2] > MIN_DEPTH)
    if not ok.any():
        log.warning("translation: no frame gives a camera translation; using %.1f m straight ahead", DEFAULT_DEPTH)
    elif not ok.all():
        log.info("translation: %d of %d frames ill-posed, filled from neighbours", int((~ok).sum()), len(ok))
    return _fill_missing(t, ok, np.array([0.0, 0.0, DEFAULT_DEPTH]))


def solve_translation(keypoints_2d: np.ndarray, world_landmarks: np.ndarray, poses: np.ndarray,
                      rest_joints: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """SMPL translation (N, 3) float32 in the camera frame such that pelvis_in_camera = transl + rest_joints[0].

    keypoints_2d (N, 33, 3) pixels + visibility; world_landmarks (N, 33, 4); poses (N, 24, 3) from
    :func:`solve_poses`; rest_joints (24, 3); intrinsics (3, 3) (an assumed focal length: see the module doc).
    The hip midpoint comes from :func:`camera_translation`; the posed pelvis joint's offset from the SMPL hip
    midpoint (where BlazePose's hips sit) is added, then the rest pelvis position subtracted.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    if len(poses) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    hip_mid = camera_translation(keypoints_2d, world_landmarks, intrinsics)
    joints, _ = forward_kinematics(np.asarray(poses, dtype=np.float64), rest, SMPL_PARENTS)
    offset = joints[:, 0] - 0.5 * (joints[:, _J["left_hip"]] + joints[:, _J["right_hip"]])
    return (hip_mid + offset - rest[0]).astype(np.float32)
