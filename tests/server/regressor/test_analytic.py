"""Analytic solve: synthetic round trips, translation recovery, degenerate input, and a real clip."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from server.body.layout import JOINT_INDEX as J
from server.body.layout import LANDMARK_INDEX as L
from server.body.layout import SMPL_PARENTS
from server.body.rotations import angle_between_vectors, forward_kinematics
from server.body.skeleton import build_rest_skeleton, landmarks_from_joints, rest_skeleton, world_landmarks_from_poses
from server.regressor.analytic import camera_translation, solve_poses, solve_translation

from ..pose_samples import random_plausible_poses

log = logging.getLogger(__name__)
LIMBS = ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_elbow", "right_elbow",
         "left_wrist", "right_wrist", "left_foot", "right_foot", "left_hand", "right_hand")


def _round_trip(poses: np.ndarray, rest: np.ndarray, noise: float = 0.0, seed: int = 0):
    """-> per-joint position errors (N, 24) in metres and limb bone direction errors (N, len(LIMBS)) in degrees."""
    wl = world_landmarks_from_poses(poses, rest)
    wl[..., :3] += np.random.default_rng(seed).normal(size=wl[..., :3].shape) * noise
    solved = solve_poses(wl, rest)
    assert solved.shape == poses.shape and solved.dtype == np.float32
    truth, _ = forward_kinematics(poses, rest, SMPL_PARENTS)
    joints, _ = forward_kinematics(solved, rest, SMPL_PARENTS)
    err = np.linalg.norm(joints - truth, axis=-1)
    idx = [J[n] for n in LIMBS]
    par = [SMPL_PARENTS[i] for i in idx]
    ang = np.degrees(angle_between_vectors(joints[:, idx] - joints[:, par], truth[:, idx] - truth[:, par]))
    return err, ang


def test_round_trip_recovers_joints_exactly() -> None:
    rest = build_rest_skeleton()
    err, ang = _round_trip(random_plausible_poses(np.random.default_rng(0), 500), rest)
    log.info("noise-free round trip: joints mean %.4f mm max %.4f mm; limb directions max %.4f deg",
             err.mean() * 1e3, err.max() * 1e3, ang.max())
    assert err.max() < 0.002 and ang.max() < 0.5


def test_round_trip_degrades_gracefully_with_landmark_noise() -> None:
    rest = build_rest_skeleton()
    err, ang = _round_trip(random_plausible_poses(np.random.default_rng(1), 500), rest, noise=0.005)
    log.info("5 mm noise: joints mean %.1f mm, limb directions mean %.2f deg", err.mean() * 1e3, ang.mean())
    assert err.mean() < 0.02 and ang.mean() < 3.0


def test_solved_global_orientation_faces_the_camera() -> None:
    rest = build_rest_skeleton()
    poses = np.zeros((1, 24, 3))
    poses[0, 0] = [np.pi, 0.0, 0.0]  # canonical (y up, z front) seen by a camera the body faces
    solved = solve_poses(world_landmarks_from_poses(poses, rest), rest)
    assert np.allclose(np.abs(solved[0, 0]), [np.pi, 0, 0], atol=1e-4)
    assert np.allclose(solved[0, 1:], 0.0, atol=1e-4)


def _project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(N, P, 3) camera points -> (N, P, 2) pixels."""
    uvw = points @ k.T
    return uvw[..., :2] / uvw[..., 2:]


def test_translation_recovered_from_a_synthetic_camera() -> None:
    rng = np.random.default_rng(2)
    rest = build_rest_skeleton()
    n = 100
    poses = random_plausible_poses(rng, n)
    transl = np.c_[rng.uniform(-1.0, 1.0, n), rng.uniform(-0.5, 0.5, n), rng.uniform(2.5, 8.0, n)]
    joints, glob = forward_kinematics(poses, rest, SMPL_PARENTS)
    cam = landmarks_from_joints(joints, glob, rest) - rest[0] + transl[:, None]
    width, height = 1768, 994
    k = np.array([[max(width, height), 0, width / 2], [0, max(width, height), height / 2], [0, 0, 1.0]])
    keypoints = np.concatenate([_project(cam, k), np.ones((n, 33, 1))], axis=-1)
    wl = world_landmarks_from_poses(poses, rest)
    solved = solve_poses(wl, rest)
    out = solve_translation(keypoints, wl, solved, rest, k)
    err = np.linalg.norm(out - transl, axis=-1)
    log.info("translation: mean %.2f mm, max %.2f mm", err.mean() * 1e3, err.max() * 1e3)
    assert out.shape == (n, 3) and out.dtype == np.float32 and err.max() < 0.01
    # With 2-pixel keypoint noise it stays within a few centimetres at these depths.
    noisy = keypoints.copy()
    noisy[..., :2] += rng.normal(size=noisy[..., :2].shape) * 2.0
    err = np.linalg.norm(solve_translation(noisy, wl, solved, rest, k) - transl, axis=-1)
    log.info("translation with 2 px noise: mean %.1f mm", err.mean() * 1e3)
    assert err.mean() < 0.05


def test_translation_falls_back_when_frames_are_ill_posed() -> None:
    rest = build_rest_skeleton()
    wl = world_landmarks_from_poses(np.tile([[[np.pi, 0, 0]] + [[0, 0, 0]] * 23], (3, 1, 1)), rest)
    k = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])
    cam = wl[..., :3].astype(np.float64) + [0.0, 0.0, 4.0]
    keypoints = np.concatenate([_project(cam, k), np.ones((3, 33, 1))], axis=-1)
    keypoints[0] = np.nan   # a frame with nothing usable takes its neighbour's value
    keypoints[2, :, :2] = 500.0  # every landmark on the principal point: only a depth-less solution
    t = camera_translation(keypoints, wl, k)
    assert np.all(np.isfinite(t)) and np.allclose(t, [0.0, 0.0, 4.0], atol=1e-4)
    assert np.allclose(camera_translation(np.full((2, 33, 3), np.nan), wl[:2], k), [0.0, 0.0, 3.0])


@pytest.mark.parametrize("case", ["zeros", "nan", "collinear", "coincident_limbs", "invisible", "huge"])
def test_degenerate_inputs_give_finite_poses(case: str) -> None:
    rest = build_rest_skeleton()
    wl = world_landmarks_from_poses(random_plausible_poses(np.random.default_rng(3), 8), rest)
    if case == "zeros":
        wl[:] = 0.0
    elif case == "nan":
        wl[::2, ::3] = np.nan
    elif case == "collinear":
        wl[..., :3] = np.linspace(0, 1, 33)[None, :, None] * np.array([0.0, 1.0, 0.0])
    elif case == "coincident_limbs":
        for name in ("left_knee", "left_ankle", "left_heel", "left_foot_index", "right_elbow", "right_wrist"):
            wl[:, L[name], :3] = wl[:, L["left_hip"], :3]
    elif case == "invisible":
        wl[..., 3] = 0.0
    else:
        wl[..., :3] *= 1e12
    poses = solve_poses(wl, rest)
    assert np.all(np.isfinite(poses)) and np.all(np.linalg.norm(poses, axis=-1) <= np.pi + 1e-4)
    if case == "invisible":  # everything missing: every joint below the pelvis stays at rest
        assert np.allclose(poses[:, 1:], 0.0, atol=1e-6)
    k = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])
    assert np.all(np.isfinite(solve_translation(np.zeros((8, 33, 3)), wl, poses, rest, k)))
    assert solve_poses(np.zeros((0, 33, 4)), rest).shape == (0, 24, 3)


@pytest.fixture(scope="module")
def real_world_landmarks(captured: dict) -> np.ndarray:
    """(N, 33, 4) MediaPipe world landmarks of the sample clip, from the shared real capture."""
    return captured["data"]["world_landmarks"]


def test_real_clip_limb_directions_agree_with_the_landmarks(real_world_landmarks: np.ndarray) -> None:
    wl = real_world_landmarks
    rest = rest_skeleton(wl)
    poses = solve_poses(wl, rest)
    assert np.all(np.isfinite(poses))
    joints, glob = forward_kinematics(poses, rest, SMPL_PARENTS)
    lm = landmarks_from_joints(joints, glob, rest)
    obs = wl[..., :3].astype(np.float64)
    errors = {}
    for side in ("left", "right"):
        for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"),
                     ("heel", "foot_index")):
            ia, ib = L[f"{side}_{a}"], L[f"{side}_{b}"]
            errors[f"{side}_{a}-{b}"] = np.degrees(angle_between_vectors(obs[:, ib] - obs[:, ia],
                                                                         lm[:, ib] - lm[:, ia]))
    chord = (lambda x: x[:, L["left_shoulder"]] + x[:, L["right_shoulder"]]
             - x[:, L["left_hip"]] - x[:, L["right_hip"]])
    torso = np.degrees(angle_between_vectors(chord(obs), chord(lm)))
    limb_mean = float(np.mean([e.mean() for e in errors.values()]))
    log.info("real clip (%d frames): limb direction error mean %.3f deg, max %.3f deg; torso chord mean %.2f deg",
             len(wl), limb_mean, max(e.max() for e in errors.values()), torso.mean())
    assert limb_mean < 1.0 and torso.mean() < 6.0
