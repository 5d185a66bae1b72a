"""Motion cleanup figures on held-out clips (the DPoser motion-denoising protocol): the animator's filters, a
no-prior baseline and our prior-based methods (prints tables; ``--json`` writes the figures).

    .venv/bin/python scripts/benchmark_cleanup.py [--clips 64] [--length 60] [--seed 0] [--threads 2]
                                                  [--methods dposer,guided] [--json OUT]

Clips: ``--clips`` windows of ``--length`` consecutive val-split frames (30 fps, unseen subjects), the val clips
visited in turn (a random order, a random offset each). Ground truth: the joints of our body (betas 0) posed by
the mocap (root in SMPL's canonical world frame, y up). Input: those joints plus Gaussian noise of sigma mm per
coordinate (20, 40, 100 mm). Every method sees the noisy joints, betas 0 and the frame rate only.

Rows (see also "Jittery keys" below):
- noisy input: the joints as given.
- no prior: per coordinate the closed-form argmin ||J - Y||^2 + lam ||D2 J||^2 (temporal + data only).
- Savitzky-Golay, Butterworth: the animator's filters (server.cleanup.filters) on every joint trajectory.
  The filters' parameters (and lam) are tuned per noise level on clips and noise drawn from ``--seed + 1``
  (grid search, lowest MPJPE), then reported on ``--seed``; the chosen values are printed.
- ours: server.cleanup.methods.cleanup_joints with CleanupSettings(method=...) at default settings (and "dposer,
  no prior": prior_weight 0, the ablation); its pose sequence is skinned back to joints. "guided, motion prior":
  the guided method through the motion prior's windows (from its t* = motion_t_start), as the cleanup job runs it
  when the root is kept (DPoser protocol, root given); "guided, its t* with no prior (eps = 0)": that schedule with
  the network's noise estimate held at 0 (scripts/ablation.py), the motion prior's own share.

Throughput: the default method on every clip in one call (``segments``: no temporal term across clips), as on a
long action.

DPoser protocol: ground truth with a zero root rotation and translation, MPJPE on 22 joints, no alignment; rows
"root given" are told the root (keep_root), as DPoser optimises the body pose only.

Jittery keys (the Blender button's case): the clips as keyed motion with noise on every joint's axis-angle
(0.02, 0.04, 0.08 rad) and on the root translation (0.25 m per rad); our ``cleanup`` of the sequence against an
animator's F-curve filters on the quaternion channels and the translation (tuned per level on ``--seed + 1``);
MPJPE and jitter (mean joint acceleration).

Keys in, root given (the DPoser protocol with keyframes in, through the cleanup job's code path): the DPoser
protocol's noisy joints (20, 40, 100 mm) turned into keys by our own fit with the root given and no cleanup
(strength 0: the data term alone; cleanup_keys.solved_keys), then cleaned as keys with Keep Root; "keys in" is
the error of those keys; "without the prior" the ablation.

Completion: the legs (hips, knees, ankles, feet) or the left arm (shoulder, elbow, wrist, hand) have confidence 0
on every frame and are unknown to every method; 40 mm noise on the rest. Baselines cannot complete: their unknown
joints come from the rest pose rigidly aligned per frame to the known joints (fill_from_rest_pose), then the filter
runs with its 40 mm parameters (alignment on the known torso joints: pelvis, hips, spine, neck,
head, collars, shoulders). Columns: MPJPE on the masked joints and on all 24.

MPJPE: mm, 24 SMPL joints, pelvis-aligned (server.refine.metrics). Harder than DPoser's published protocol, whose
root orientation and translation are known (it optimises the body pose only) and whose MPJPE is on 22 joints with no
alignment; "global" in the JSON is our 24-joint MPJPE with no alignment, for comparison. frames/s: the method's own
call, one clip at a time, on ``--threads`` threads (the filters are numpy, single-threaded).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.layout import JOINT_INDEX  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.cleanup.filters import (butterworth_lowpass, fill_from_rest_pose, savgol_smooth,  # noqa: E402
                                    second_difference_smooth)
from cleanup_clips import (BW_GRID, DEFAULT_DATASET, FPS, MM, SG_GRID, errors, ground_truth,  # noqa: E402
                           load_clips, noisy)
from ablation import NoPrior  # noqa: E402
from cleanup_keys import KeyMethod, TRANSL_NOISE_PER_RAD, job_keys, keyframe_noise, keys_root_given  # noqa: E402

log = logging.getLogger("benchmark_cleanup")
NOISE_MM = (20.0, 40.0, 100.0)
COMPLETION_NOISE_MM = 40.0
MASKS = {
    "legs": ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot",
             "right_foot"),
    "left arm": ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
}
LAM_GRID = [float(v) for v in np.logspace(-1, 4, 26)]
TORSO = np.isin(np.arange(24), [JOINT_INDEX[n] for n in (
    "pelvis", "left_hip", "right_hip", "spine1", "spine2", "spine3", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder")])                                  # fill_from_rest_pose aligns on these
Method = Callable[[np.ndarray, Optional[np.ndarray]], np.ndarray]   # joints (T, 24, 3), confidence -> joints


def baselines(params: Dict[str, object], rest: np.ndarray) -> Dict[str, Method]:
    """Row -> method of (joints (T, 24, 3), confidence (T, 24) or None); unknown joints (confidence 0 on every
    frame) are filled from the rest pose first."""
    def prepare(x: np.ndarray, conf: Optional[np.ndarray]) -> np.ndarray:
        return x if conf is None else fill_from_rest_pose(x, conf.max(0) > 0, rest, TORSO)

    w, o = params["savitzky_golay"]
    return {
        "noisy input": lambda x, conf: prepare(x, conf),
        "no prior": lambda x, conf: second_difference_smooth(prepare(x, conf), params["no_prior"]),
        "Savitzky-Golay": lambda x, conf: savgol_smooth(prepare(x, conf), w, o),
        "Butterworth": lambda x, conf: butterworth_lowpass(prepare(x, conf), params["butterworth"], FPS),
    }


def tune(gt: np.ndarray, sigma_mm: float, seed: int) -> Dict[str, object]:
    """Grid search of each baseline's parameter on (gt, noise of ``seed``) -> {filter: best parameter}."""
    x = np.moveaxis(noisy(gt, sigma_mm, seed), 1, 0)                        # (T, C, 24, 3): time first
    truth = np.moveaxis(gt, 1, 0)

    def best(grid: list, smooth: Callable[[object], np.ndarray]) -> object:
        scores = [float(errors(smooth(p), truth).mean()) for p in grid]
        return grid[int(np.argmin(scores))]

    return {"no_prior": best(LAM_GRID, lambda lam: second_difference_smooth(x, lam)),
            "savitzky_golay": best(SG_GRID, lambda wo: savgol_smooth(x, wo[0], wo[1])),
            "butterworth": best(BW_GRID, lambda hz: butterworth_lowpass(x, hz, FPS))}


def load_clip_prior(motion_path: Optional[Path], dual_path: Optional[Path]):
    """The clip prior the rows pass as ``motion``: the dual motion model when ``dual_path`` is given, else the
    motion prior."""
    if dual_path is not None:
        from server.dual.dual_network import load_dual_motion
        return load_dual_motion(dual_path)
    from server.diffusion.motion import load_motion_prior
    return load_motion_prior(motion_path)


def ours(names: List[str], threads: int, motion_path: Optional[Path] = None, use_motion: bool = True,
         dual_path: Optional[Path] = None) -> Tuple[Dict[str, Method], Optional[Callable], Dict[str, Callable], Dict[str, KeyMethod]]:
    """Row -> our method (server.cleanup.methods at default settings; "dposer" also without its diffusion prior,
    the ablation, and with the motion prior's windows unless ``use_motion`` is False); the default method over
    many clips in one call (for throughput); row -> our method told the
    root (rotation (T, 3, 3) and pelvis (T, 3), world frame; keep_root); row -> our cleanup of keyed motion
    (poses, transl). ({}, None, {}, {}) without the module."""
    if not names:
        return {}, None, {}, {}
    try:
        from server.cleanup.methods import cleanup, cleanup_joints
        from server.cleanup.settings import CleanupSettings
        from server.cleanup.sequence import make_sequence
    except ImportError as exc:
        log.warning("server.cleanup.methods is not available (%s); only the baselines run", exc)
        return {}, None, {}, {}
    from server.diffusion.denoiser import load_prior
    torch.set_num_threads(threads)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    prior = load_prior()
    windows = None
    if use_motion:
        windows = load_clip_prior(motion_path, dual_path)
    betas = np.zeros(skinning.num_betas, np.float32)

    def solve(x: np.ndarray, conf: Optional[np.ndarray], settings, segments=(), root=None,
              with_motion: bool = False) -> np.ndarray:
        joints = np.nan_to_num(x).astype(np.float32)
        motion = cleanup_joints(prior, skinning, joints, betas, FPS, conf, settings, segments=segments, root=root,
                                motion=windows if with_motion else None)
        with torch.no_grad():
            out, _ = skinning(torch.as_tensor(np.asarray(motion.poses), dtype=torch.float32),
                              torch.as_tensor(np.asarray(motion.betas), dtype=torch.float32),
                              torch.as_tensor(np.asarray(motion.transl), dtype=torch.float32))
        return out.numpy().astype(np.float64)

    def make_ablation(settings) -> Callable:
        """The guided method's loop, root given, with the network's noise estimate held at 0 (no learned prior)."""
        def run(x: np.ndarray, root) -> np.ndarray:
            nonlocal prior
            saved, prior = prior, NoPrior(prior)
            try:
                return solve(x, None, replace(settings, keep_root=True), root=root)
            finally:
                prior = saved
        return run

    def make(settings) -> Method:
        return lambda x, conf: solve(x, conf, settings, with_motion=windows is not None)

    def batched(inputs: np.ndarray) -> np.ndarray:
        """inputs (C, T, 24, 3) -> (C, T, 24, 3): every clip in one call at default settings."""
        c, t = inputs.shape[:2]
        return solve(inputs.reshape(c * t, 24, 3), None, CleanupSettings(), (t,) * c,
                     with_motion=windows is not None).reshape(inputs.shape)

    def make_rooted(settings, with_motion: bool = False) -> Callable:
        """Root given; ``with_motion``: the motion prior passed (it acts for the guided method only)."""
        return lambda x, root: solve(x, None, replace(settings, keep_root=True), root=root, with_motion=with_motion)

    def make_keys(settings) -> KeyMethod:
        def run(poses: np.ndarray, transl: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            seq = make_sequence(poses.astype(np.float32), transl.astype(np.float32), betas, FPS, None, "world")
            out = cleanup(prior, skinning, seq, settings, motion=windows)   # as the cleanup job passes it
            return np.asarray(out.poses, np.float64), np.asarray(out.transl, np.float64)
        return run

    keys = {}
    for name in names:
        keys[f"ours: {name}"] = make_keys(CleanupSettings(method=name))
        if name == "dposer":
            keys["ours: dposer, no prior"] = make_keys(CleanupSettings(method=name, prior_weight=0.0))
    rows, rooted = {}, {}
    for name in names:
        rows[f"ours: {name}"] = make(CleanupSettings(method=name))
        rooted[f"ours: {name}, root given"] = make_rooted(CleanupSettings(method=name))
        if name == "dposer":
            rows["ours: dposer, no prior"] = make(CleanupSettings(method=name, prior_weight=0.0))
            rooted["ours: dposer, no prior, root given"] = make_rooted(CleanupSettings(method=name,
                                                                                       prior_weight=0.0))
        if windows is not None and name == "guided":
            rooted[f"ours: {name}, motion prior, root given"] = make_rooted(CleanupSettings(method=name), True)
            schedule = CleanupSettings(method=name, t_start=CleanupSettings().motion_t_start,
                                       stride=CleanupSettings().motion_stride)
            rooted[f"ours: {name}, its t* with no prior (eps = 0), root given"] = make_ablation(schedule)
    return rows, batched, rooted, keys


def throughput(batched: Callable, gt: np.ndarray, seed: int) -> Dict[str, float]:
    """The default method on every clip at 40 mm in one call -> {frames, seconds, frames_per_second, mpjpe}."""
    inputs = noisy(gt, 40.0, seed)
    batched(inputs[:2])                                                      # warm-up: not timed
    t0 = time.perf_counter()
    preds = batched(inputs)
    seconds = time.perf_counter() - t0
    frames = int(inputs.shape[0] * inputs.shape[1])
    return {"frames": frames, "seconds": seconds, "frames_per_second": frames / max(seconds, 1e-9),
            "mpjpe": float(errors(preds, gt).mean())}


def dposer_protocol(skinning: LandmarkSkinning, poses: np.ndarray, rows: Dict[str, Method],
                    rooted: Dict[str, Callable], seed: int) -> Dict[str, dict]:
    """DPoser's protocol: ground truth posed with a zero root rotation and translation, MPJPE on the first 22 joints
    with no alignment. ``rows`` are not told the root (the harder problem); ``rooted`` are, as in DPoser, which
    optimises the body pose only. -> {noise: row -> {mpjpe_22}}."""
    flat = poses.copy()
    flat[:, :, 0] = 0.0
    gt = ground_truth(skinning, flat, np.zeros(flat.shape[:2] + (3,), np.float32))
    t = gt.shape[1]
    root = (np.broadcast_to(np.eye(3), (t, 3, 3)).copy(), gt[0, :, 0].copy())       # the same for every clip

    def score(preds: np.ndarray) -> Dict[str, float]:
        return {"mpjpe_22": float(np.linalg.norm(preds[..., :22, :] - gt[..., :22, :], axis=-1).mean() * MM)}

    figures = {}
    for sigma in NOISE_MM:
        inputs = noisy(gt, sigma, seed + 20)
        level = {name: score(np.stack([method(x, None) for x in inputs])) for name, method in rows.items()}
        level.update({name: score(np.stack([method(x, root) for x in inputs])) for name, method in rooted.items()})
        figures[f"{sigma:g} mm"] = level
        log.info("DPoser protocol at %g mm: %s", sigma, level)
    return figures


def run_rows(rows: Dict[str, Method], inputs: np.ndarray, gt: np.ndarray, conf: Optional[np.ndarray],
             masked: Optional[np.ndarray] = None) -> Dict[str, Dict[str, float]]:
    """Every row on every clip (one call per clip) -> row -> {mpjpe, [mpjpe_masked], frames_per_second}."""
    table = {}
    for name, method in rows.items():
        method(inputs[0, :8], None if conf is None else conf[:8])           # warm-up: not timed
        t0 = time.perf_counter()
        preds = np.stack([method(x, conf) for x in inputs])
        seconds = time.perf_counter() - t0
        row = {"mpjpe": float(errors(preds, gt).mean()),
               "mpjpe_global": float(np.linalg.norm(preds - gt, axis=-1).mean() * MM),
               "frames_per_second": inputs.shape[0] * inputs.shape[1] / max(seconds, 1e-9)}
        if masked is not None:
            row["mpjpe_masked"] = float(errors(preds, gt, masked).mean())
        table[name] = row
        log.info("%s: %s", name, row)
    return table


def denoising(gt: np.ndarray, tune_gt: np.ndarray, rest: np.ndarray, mine: Dict[str, Method],
              seed: int) -> Tuple[Dict[str, dict], Dict[str, dict]]:
    """-> ({noise: row -> figures}, {noise: chosen baseline parameters})."""
    figures, chosen = {}, {}
    for sigma in NOISE_MM:
        params = tune(tune_gt, sigma, seed + 1)
        chosen[f"{sigma:g} mm"] = params
        rows = {**baselines(params, rest), **mine}
        figures[f"{sigma:g} mm"] = run_rows(rows, noisy(gt, sigma, seed), gt, None)
    return figures, chosen


def completion(gt: np.ndarray, rest: np.ndarray, mine: Dict[str, Method], params: Dict[str, object],
               seed: int) -> Dict[str, dict]:
    """-> {mask name: row -> figures} with that mask's joints unknown and 40 mm noise on the others."""
    figures = {}
    for k, (mask, names) in enumerate(MASKS.items()):
        joints = np.array([JOINT_INDEX[n] for n in names])
        known = np.ones(24, bool)
        known[joints] = False
        conf = np.broadcast_to(known.astype(np.float32), gt.shape[1:3]).copy()
        inputs = noisy(gt, COMPLETION_NOISE_MM, seed + 10 + k, known)
        figures[mask] = run_rows({**baselines(params, rest), **mine}, inputs, gt, conf, joints)
    return figures


def print_tables(figures: dict) -> None:
    noise = figures["denoising"]
    levels = list(noise)
    rows = list(noise[levels[0]])
    print(f"\nDenoising: MPJPE mm ({figures['clips']} held-out clips x {figures['length']} frames); frames/s at 40 mm")
    print(f"{'':22s}" + "".join(f"{lv:>10s}" for lv in levels) + f"{'global 40':>10s}{'frames/s':>12s}")
    for r in rows:
        fps = noise["40 mm"][r]["frames_per_second"] if "40 mm" in noise else float("nan")
        glob = noise["40 mm"][r]["mpjpe_global"] if "40 mm" in noise else float("nan")
        print(f"{r:22s}" + "".join(f"{noise[lv][r]['mpjpe']:10.1f}" for lv in levels) + f"{glob:10.1f}{fps:12.0f}")
    print("\nChosen baseline parameters (tuned on seed + 1): " + "; ".join(
        f"{lv}: lam {p['no_prior']:.3g}, SG window/order {p['savitzky_golay'][0]}/{p['savitzky_golay'][1]}, "
        f"Butterworth {p['butterworth']:g} Hz" for lv, p in figures["parameters"].items()))
    tp = figures.get("throughput")
    if tp:
        print(f"\nThroughput, default method, all clips in one call: {tp['frames']} frames in {tp['seconds']:.2f} s = "
              f"{tp['frames_per_second']:.0f} frames/s (MPJPE {tp['mpjpe']:.1f} mm at 40 mm)")
    dp = figures.get("dposer_protocol")
    if dp:
        print("\nDPoser protocol (zero root and translation, 22 joints, no alignment): MPJPE mm")
        print(f"{'':36s}" + "".join(f"{lv:>10s}" for lv in dp))
        for r in dp[next(iter(dp))]:
            print(f"{r:36s}" + "".join(f"{dp[lv][r]['mpjpe_22']:10.1f}" for lv in dp))
    keys = figures.get("keyframe_noise")
    if keys:
        levels = [lv for lv in keys if lv.endswith("rad")]
        print(f"\nJittery keys (rotation noise per axis, root translation {TRANSL_NOISE_PER_RAD:g} m per rad): "
              f"MPJPE mm / jitter mm/frame^2 (ground truth jitter {keys['ground truth jitter']:.1f})")
        print(f"{'':28s}" + "".join(f"{lv:>18s}" for lv in levels))
        for r in [k for k in keys[levels[0]] if k != "parameters"]:
            print(f"{r:28s}" + "".join(f"{keys[lv][r]['mpjpe']:10.1f} /{keys[lv][r]['jitter_mm_per_frame2']:6.1f}"
                                       for lv in levels))
        print("Key filter parameters (tuned on seed + 1): " + "; ".join(
            f"{lv}: SG {keys[lv]['parameters']['savitzky_golay'][0]}/{keys[lv]['parameters']['savitzky_golay'][1]},"
            f" Butterworth {keys[lv]['parameters']['butterworth']:g} Hz" for lv in levels))
    kr = figures.get("keys_root_given")
    if kr:
        print("\nKeys in, root given (keys solved from the DPoser protocol's noisy joints; 22 joints): MPJPE mm")
        print(f"{'':44s}" + "".join(f"{lv:>10s}" for lv in kr))
        for r in kr[next(iter(kr))]:
            print(f"{r:44s}" + "".join(f"{kr[lv][r]['mpjpe_22']:10.1f}" for lv in kr))
    comp = figures.get("completion")
    if comp:
        print(f"\nCompletion ({COMPLETION_NOISE_MM:g} mm on known joints): MPJPE mm on masked / all joints")
        print(f"{'':22s}" + "".join(f"{m:>20s}" for m in comp))
        for r in comp[next(iter(comp))]:
            print(f"{r:22s}" + "".join(f"{comp[m][r]['mpjpe_masked']:11.1f} /{comp[m][r]['mpjpe']:6.1f}"
                                       for m in comp))


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--clips", type=int, default=32, help="held-out clips (default 32: ~15 min on 1 thread)")
    parser.add_argument("--length", type=int, default=60, help="frames per clip (30 fps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default="dposer,guided", help="our methods, comma-separated ('' for none)")
    parser.add_argument("--no-completion", action="store_true", help="skip the completion figures")
    parser.add_argument("--no-dposer-protocol", action="store_true", help="skip the DPoser-scoring figures")
    parser.add_argument("--no-keyframe-noise", action="store_true", help="skip the jittery-keys figures")
    parser.add_argument("--no-keys-root-given", action="store_true", help="skip the keys-in, root-given figures")
    parser.add_argument("--motion", type=Path, default=None, help="motion prior checkpoint (default: resolved)")
    parser.add_argument("--no-motion", action="store_true", help="skip the motion prior's rows")
    parser.add_argument("--dual", type=Path, default=None,
                        help="a dual motion checkpoint to use in place of the motion prior in its rows")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    with torch.no_grad():
        rest = skinning(torch.zeros(1, 24, 3))[0][0].numpy().astype(np.float64)
    gt = ground_truth(skinning, *load_clips(args.dataset, args.clips, args.length, args.seed))
    tune_gt = ground_truth(skinning, *load_clips(args.dataset, args.clips, args.length, args.seed + 1))
    mine, batched, rooted, mine_keys = ours([m for m in args.methods.split(",") if m], args.threads, args.motion,
                                            not args.no_motion, args.dual)
    figures: dict = {"settings": {**vars(args), "dataset": str(args.dataset), "json": str(args.json),
                                  "torch": torch.__version__}, "clips": args.clips, "length": args.length}
    figures["denoising"], figures["parameters"] = denoising(gt, tune_gt, rest, mine, args.seed)
    if not args.no_completion:
        figures["completion"] = completion(gt, rest, mine, figures["parameters"][f"{COMPLETION_NOISE_MM:g} mm"],
                                           args.seed)
    if batched is not None:
        figures["throughput"] = throughput(batched, gt, args.seed)
    if not args.no_keyframe_noise:
        figures["keyframe_noise"] = keyframe_noise(
            skinning, load_clips(args.dataset, args.clips, args.length, args.seed),
            load_clips(args.dataset, args.clips, args.length, args.seed + 1), mine_keys, args.seed)
    if not args.no_dposer_protocol:
        poses, _ = load_clips(args.dataset, args.clips, args.length, args.seed)
        noprior = baselines(figures["parameters"]["40 mm"], rest)["no prior"]
        unrooted = {"no prior (40 mm parameters)": noprior, **{k: v for k, v in mine.items() if "guided" not in k}}
        figures["dposer_protocol"] = dposer_protocol(skinning, poses, unrooted, rooted, args.seed)
    names = tuple(m for m in args.methods.split(",") if m)
    if names and not args.no_keys_root_given:
        from server.diffusion.denoiser import load_prior
        prior, windows = load_prior(), None if args.no_motion else load_clip_prior(args.motion, args.dual)
        poses, _ = load_clips(args.dataset, args.clips, args.length, args.seed)
        figures["keys_root_given"] = keys_root_given(skinning, poses, prior, job_keys(prior, windows, skinning, names),
                                                     NOISE_MM, args.seed)
    print_tables(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
