"""The jittery-keys part of the cleanup benchmark (the Blender button's case): noise on every joint's rotation and
the root translation, an animator's F-curve filters tuned per noise level, and our cleanup of the keyed motion."""
from __future__ import annotations

import logging
from typing import Callable, Dict, Tuple

import numpy as np

from cleanup_clips import BW_GRID, FPS, MM, SG_GRID, errors, ground_truth
from server.body.fast import LandmarkSkinning
from server.body.rotations import quat_sign_continuous, quat_wxyz_to_rotvec, rotvec_to_quat_wxyz
from server.cleanup.filters import butterworth_lowpass, savgol_smooth

log = logging.getLogger("benchmark_cleanup")

KEY_NOISE_RAD = (0.02, 0.04, 0.08)       # Gaussian noise per axis-angle component of every joint, radians
TRANSL_NOISE_PER_RAD = 0.25               # root translation noise (metres) per radian: 0.04 rad -> 1 cm
KeyMethod = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]   # poses (T, 24, 3), transl (T, 3)


def key_noise(poses: np.ndarray, transl: np.ndarray, sigma: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Jittery keys: poses (C, T, 24, 3) + N(0, sigma) per axis-angle component, transl (C, T, 3) +
    N(0, sigma * TRANSL_NOISE_PER_RAD)."""
    rng = np.random.default_rng(seed)
    return (poses + rng.normal(scale=sigma, size=poses.shape),
            transl + rng.normal(scale=sigma * TRANSL_NOISE_PER_RAD, size=transl.shape))


def filter_keys(smooth: Callable[[np.ndarray], np.ndarray]) -> KeyMethod:
    """An animator's F-curve filter on one clip: the quaternion channels (sign-continuous, renormalised after)
    and the root translation, each smoothed along time."""
    def run(poses: np.ndarray, transl: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        q = smooth(quat_sign_continuous(rotvec_to_quat_wxyz(poses), axis=0))
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        return quat_wxyz_to_rotvec(q), smooth(transl)
    return run


def key_joints(skinning: LandmarkSkinning, poses: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """Clips of keys (C, T, 24, 3), (C, T, 3) -> joints (C, T, 24, 3) (our body, betas 0)."""
    return ground_truth(skinning, poses.astype(np.float32), transl.astype(np.float32))


def jitter(joints: np.ndarray) -> float:
    """Mean norm of the joints' second difference along time, mm/frame^2: joints (C, T, 24, 3)."""
    return float(np.linalg.norm(joints[:, :-2] - 2 * joints[:, 1:-1] + joints[:, 2:], axis=-1).mean() * MM)


def tune_keys(skinning: LandmarkSkinning, poses: np.ndarray, transl: np.ndarray, sigma: float,
              seed: int) -> Dict[str, object]:
    """Grid search of the key filters' parameters on (poses, transl, noise of ``seed``) -> {filter: parameter}."""
    truth = key_joints(skinning, poses, transl)
    p, t = key_noise(poses, transl, sigma, seed)

    def best(grid: list, make: Callable[[object], KeyMethod]) -> object:
        def score(param) -> float:
            out = [make(param)(a, b) for a, b in zip(p, t)]
            pred = key_joints(skinning, np.stack([o[0] for o in out]), np.stack([o[1] for o in out]))
            return float(errors(pred, truth).mean())
        return min(grid, key=score)

    return {"savitzky_golay": best(SG_GRID, lambda wo: filter_keys(lambda x: savgol_smooth(x, wo[0], wo[1]))),
            "butterworth": best(BW_GRID, lambda hz: filter_keys(lambda x: butterworth_lowpass(x, hz, FPS)))}


def keyframe_noise(skinning: LandmarkSkinning, clips: Tuple[np.ndarray, np.ndarray],
                   tune_clips: Tuple[np.ndarray, np.ndarray], mine: Dict[str, KeyMethod],
                   seed: int) -> Dict[str, dict]:
    """Jittery keys (noise on every joint's rotation and the root translation), cleaned as keyed motion (the
    Blender button's case): the animator's F-curve filters (tuned per noise level on other clips) and our cleanup
    of the sequence. -> {noise: row -> {mpjpe, jitter_mm_per_frame2}}."""
    poses, transl = clips
    truth = key_joints(skinning, poses, transl)
    figures = {"ground truth jitter": jitter(truth)}
    for sigma in KEY_NOISE_RAD:
        params = tune_keys(skinning, *tune_clips, sigma, seed + 1)
        w, o = params["savitzky_golay"]
        rows = {"noisy keys": lambda a, b: (a, b),
                "Savitzky-Golay on the keys": filter_keys(lambda x: savgol_smooth(x, w, o)),
                "Butterworth on the keys": filter_keys(lambda x: butterworth_lowpass(x, params["butterworth"], FPS)),
                **mine}
        p, t = key_noise(poses, transl, sigma, seed + 30)
        level: Dict[str, dict] = {"parameters": params}
        for name, method in rows.items():
            out = [method(a, b) for a, b in zip(p, t)]
            pred = key_joints(skinning, np.stack([o[0] for o in out]), np.stack([o[1] for o in out]))
            level[name] = {"mpjpe": float(errors(pred, truth).mean()), "jitter_mm_per_frame2": jitter(pred)}
        figures[f"{sigma:g} rad"] = level
        log.info("keyframe noise %g rad: %s", sigma, level)
    return figures


def job_keys(prior, motion, skinning: LandmarkSkinning, names: Tuple[str, ...]) -> Dict[str, KeyMethod]:
    """Row -> our cleanup of keys with the root given, through the cleanup job's code path
    (:func:`server.jobs.cleanup.cleanup_settings` with ``keep_root``, :func:`server.cleanup.methods.cleanup` with the
    motion prior as the job passes it), a world-frame sequence of betas 0 at FPS; per method also without the
    prior (the ablation: dposer at prior weight 0; guided with a noise estimate of 0 in the motion prior's loop)."""
    from dataclasses import replace
    from unittest import mock
    from ablation import NoPrior, ZeroDualPrior
    from server.cleanup import methods
    from server.cleanup.methods import cleanup
    from server.dual.dual_network import DualMotionModel
    from server.cleanup.sequence import make_sequence
    from server.jobs.cleanup import cleanup_settings
    from server.options import CleanupOptions
    betas = np.zeros(skinning.num_betas, np.float32)

    def make(settings, windows, zero_dual: bool = False) -> KeyMethod:
        def run(poses: np.ndarray, transl: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            seq = make_sequence(poses.astype(np.float32), transl.astype(np.float32), betas, FPS, None, "world")
            with mock.patch.object(methods, "DualPrior", ZeroDualPrior if zero_dual else methods.DualPrior):
                out = cleanup(prior, skinning, seq, settings, motion=windows)
            return np.asarray(out.poses, np.float64), np.asarray(out.transl, np.float64)
        return run

    rows = {}
    for name in names:
        settings = cleanup_settings(CleanupOptions(method=name, keep_root=True))
        rows[f"ours: {name}, root given"] = make(settings, motion)
        if name == "dposer":
            ablation = make(replace(settings, prior_weight=0.0), motion)
        elif isinstance(motion, DualMotionModel):
            ablation = make(settings, motion, zero_dual=True)
        else:
            ablation = make(settings, None if motion is None else NoPrior(motion))
        rows[f"ours: {name} without the prior, root given"] = ablation
    return rows


def solved_keys(skinning: LandmarkSkinning, prior, joints: np.ndarray,
                root: Tuple[np.ndarray, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Keys solved from noisy joints by our own fit with the root given and no cleanup (strength 0: the data term
    alone, 100 Adam steps from swing inverse kinematics): joints (C, T, 24, 3) world frame -> poses (C, T, 24, 3),
    transl (C, T, 3); joint error above the joint noise's mean norm / 1.6 (the twists are left free)."""
    from dataclasses import replace
    from server.cleanup.methods import cleanup_joints
    from server.cleanup.settings import CleanupSettings
    settings = replace(CleanupSettings(), keep_root=True, strength=0.0)
    betas = np.zeros(skinning.num_betas, np.float32)
    out = [cleanup_joints(prior, skinning, x.astype(np.float32), betas, FPS, None, settings, root=root) for x in joints]
    return np.stack([o.poses for o in out]).astype(np.float64), np.stack([o.transl for o in out]).astype(np.float64)


def keys_root_given(skinning: LandmarkSkinning, poses: np.ndarray, prior, mine: Dict[str, KeyMethod],
                    levels: Tuple[float, ...], seed: int) -> Dict[str, dict]:
    """Keyframes in, DPoser's protocol with the root given: the ground truth posed with a zero root rotation and
    translation; per level, Gaussian joint noise of sigma mm per coordinate (drawn as the joints-in rows draw it,
    ``seed + 20``) turned into keys by :func:`solved_keys`; every row cleans those keys; MPJPE on 22 joints with
    no alignment. -> {noise: row -> {mpjpe_22}} ("keys in": the solved keys themselves)."""
    from cleanup_clips import noisy
    flat = poses.copy()
    flat[:, :, 0] = 0.0
    zero = np.zeros(flat.shape[:2] + (3,), np.float32)
    gt = ground_truth(skinning, flat.astype(np.float32), zero)
    root = (np.broadcast_to(np.eye(3), (gt.shape[1], 3, 3)).copy(), gt[0, :, 0].copy())

    def score(p: np.ndarray, t: np.ndarray) -> Dict[str, float]:
        pred = key_joints(skinning, p, t)
        return {"mpjpe_22": float(np.linalg.norm(pred[..., :22, :] - gt[..., :22, :], axis=-1).mean() * MM)}

    figures = {}
    for sigma in levels:
        p, t = solved_keys(skinning, prior, noisy(gt, sigma, seed + 20), root)
        level = {"keys in": score(p, t)}
        for name, method in mine.items():
            out = [method(a, b) for a, b in zip(p, t)]
            level[name] = score(np.stack([o[0] for o in out]), np.stack([o[1] for o in out]))
        figures[f"{sigma:g} mm"] = level
        log.info("keys in, root given, %g mm: %s", sigma, level)
    return figures
