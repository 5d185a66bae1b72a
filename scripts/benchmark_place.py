"""World placement and foot locking of captures: the capture's place stage on synthetic held-out clips
seen by a known camera, and on a real capture (prints tables; ``--json`` writes the figures).

    .venv/bin/python scripts/benchmark_place.py [--dataset POSES.npz] [--clips 16] [--length 150] [--seed 0]
                                                [--threads 1] [--sample VIDEO [--person K ...] | --result CAPTURE.npz]
                                                [--json OUT]

Synthetic: ``--clips`` windows of ``--length`` val-split mocap frames (30 fps, unseen subjects), filmed by a static
camera 1.0-1.8 m above the floor, pitched 0-20 degrees down, 4-8 m from the clip's middle (all drawn per clip), in
the capture's camera frame. Like a single-view capture they get (a) a slow depth error: the body slides along its
pelvis ray by a smooth random 4% of the depth (correlation ~0.5 s) plus 1% white, and (b) jittery keys (0.02 rad per
axis-angle component). Truth: the clean clip's ground and contacts (:mod:`server.world.feet`). Figures: the camera
height (cm) and pitch (deg) errors of the found ground, the contact F1, the root depth error (cm), foot sliding on the
true contacts (cm/frame) and penetration below the true ground (cm), for the input, the placed clip and the placed +
locked clip.

``--sample``: capture this footage first (place stage off; ``--person K``, repeatable: that person of its people
listing), or ``--result``: a capture result made with ``capture --no-place``; then the same stage on it, with
figures against what it found (no ground truth): camera height, contact share, sliding and penetration (within
25 cm of the ground; deeper is another level, e.g. off a box), the root's depth jitter and how far the body moved in
the image (px).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark_feet import f1  # noqa: E402
from cleanup_clips import FPS, held_out_arguments, load_clips  # noqa: E402
from cleanup_keys import key_noise  # noqa: E402
from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.model import default_body_model_path, load_body_model, shaped_vertices  # noqa: E402
from server.body.rotations import rotmat_to_rotvec, rotvec_to_rotmat  # noqa: E402
from server.jobs.capture import CaptureRequest, run_capture  # noqa: E402
from server.options import CaptureOptions  # noqa: E402
from server.cleanup.sequence import MotionSequence, make_sequence  # noqa: E402
from server.world.capture_world import place_capture  # noqa: E402
from server.world.feet import OTHER_LEVEL, Ground, fit_ground, foot_contacts, foot_sliding  # noqa: E402
from server.world.lock import WORLD_UP, sequence_joints  # noqa: E402

log = logging.getLogger("benchmark_place")
KEY_NOISE = 0.02
SLOW_DEPTH = 0.04
WHITE_DEPTH = 0.01
CM = 100.0
PITCH_DEG = (0.0, 20.0)     # the cameras' downward pitch is drawn from this range
ROWS = ("input", "placed", "placed + locked")


def camera_rotation(pitch: float) -> np.ndarray:
    """(3, 3) world (y up) -> OpenCV camera looking along world +z, pitched down by ``pitch`` radians."""
    c, s = np.cos(pitch), np.sin(pitch)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]) @ np.diag([-1.0, -1.0, 1.0])


def to_camera(seq: MotionSequence, rotation: np.ndarray, centre: np.ndarray, rest_pelvis: np.ndarray,
              scale: np.ndarray) -> MotionSequence:
    """A world sequence seen by the camera (``rotation`` world -> camera, ``centre`` in world), then slid along each
    frame's pelvis ray by ``scale`` (N,) (1 = where it is)."""
    poses = seq.poses.astype(np.float64).copy()
    poses[:, 0] = rotmat_to_rotvec(rotation @ rotvec_to_rotmat(poses[:, 0]))
    pelvis = (seq.transl + rest_pelvis - centre) @ rotation.T
    transl = pelvis * scale[:, None] - rest_pelvis
    return make_sequence(poses.astype(np.float32), transl.astype(np.float32), seq.betas, seq.fps, None, "camera")


def smooth_noise(rng: np.random.Generator, frames: int, std: float, width: float) -> np.ndarray:
    """(frames,) Gaussian noise low-passed by a Gaussian of ``width`` frames, rescaled to ``std``."""
    white = rng.normal(size=frames + int(6 * width))
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    out = np.convolve(white, kernel / kernel.sum(), mode="valid")[:frames]
    return out / max(out.std(), 1e-9) * std


def arrays_of(seq: MotionSequence, rest: np.ndarray, vertices: np.ndarray) -> Dict[str, np.ndarray]:
    return {"poses": seq.poses, "transl": seq.transl, "betas": seq.betas, "fps": np.float32(seq.fps),
            "joints_rest": rest, "mesh_vertices": vertices}


def penetration(joints: np.ndarray, ground: Ground) -> float:
    """Mean depth (cm) of the foot points below the ground where below it, within OTHER_LEVEL (deeper: another
    level); 0 if never."""
    from server.world.feet import FOOT_JOINTS
    h = ground.height(joints[:, list(FOOT_JOINTS)])
    below = (h < 0.0) & (h > -OTHER_LEVEL)
    return float(-h[below].mean() * CM) if below.any() else 0.0


def synthetic(body, dataset: Path, clips: int, length: int, seed: int) -> Dict[str, Dict[str, float]]:
    skinning = LandmarkSkinning(body)
    poses, transl = load_clips(dataset, clips, length, seed)
    noisy_p, noisy_t = key_noise(poses, transl, KEY_NOISE, seed + 50)
    rng = np.random.default_rng(seed + 60)
    betas = np.zeros(10, np.float32)
    vertices = shaped_vertices(body, np.zeros(10))
    rest = np.asarray(body.J_regressor @ vertices, np.float32)
    vertices = vertices.astype(np.float32)
    clean_sliding: List[float] = []
    rows: Dict[str, List[dict]] = {name: [] for name in ROWS}
    found: List[dict] = []
    for c in range(clips):
        clean = make_sequence(poses[c], transl[c], betas, FPS, None, "world")
        truth_w = sequence_joints(skinning, clean)
        ground_w = fit_ground(truth_w, FPS, WORLD_UP)
        contacts = foot_contacts(truth_w, ground_w, FPS)
        clean_sliding.append(foot_sliding(truth_w, contacts, ground_w))
        height, pitch, distance = rng.uniform(1.0, 1.8), np.radians(rng.uniform(*PITCH_DEG)), rng.uniform(4.0, 8.0)
        middle = truth_w[:, 0].mean(0)
        floor_y = -ground_w.offset                                    # ground normal ~ +y
        centre = np.array([middle[0], floor_y + height, middle[2] - distance])
        rotation = camera_rotation(pitch)
        truth = to_camera(clean, rotation, centre, rest[0], np.ones(length))
        truth_j = sequence_joints(skinning, truth)
        normal = rotation @ ground_w.normal
        ground = Ground(normal, float(ground_w.offset + ground_w.normal @ centre), ground_w.support)
        scale = 1.0 + smooth_noise(rng, length, SLOW_DEPTH, 15.0) + rng.normal(0.0, WHITE_DEPTH, length)
        noisy_w = make_sequence(noisy_p[c], noisy_t[c], betas, FPS, None, "world")
        noisy = to_camera(noisy_w, rotation, centre, rest[0], scale)
        placed, report = place_capture(arrays_of(noisy, rest, vertices), body, lock=False)
        locked, _ = place_capture(arrays_of(noisy, rest, vertices), body, lock=True)
        if report.placement is None:
            log.warning("clip %d: no ground found", c)
            continue
        p = report.placement
        found.append({"height_error_cm": abs(p.camera_height - ground.offset) * CM,
                      "pitch_error_deg": abs(p.camera_pitch_deg - np.degrees(pitch)),
                      "contact_f1": f1(p.contacts, contacts)})
        for name, arrays in (("input", arrays_of(noisy, rest, vertices)), ("placed", placed),
                             ("placed + locked", locked)):
            seq = make_sequence(arrays["poses"], arrays["transl"], betas, FPS)
            j = sequence_joints(skinning, seq)
            rows[name].append({"depth_error_cm": float(np.abs(j[:, 0, 2] - truth_j[:, 0, 2]).mean() * CM),
                               "sliding_cm_per_frame": foot_sliding(j, contacts, ground),
                               "penetration_cm": penetration(j, ground),
                               "mpjpe_mm": float(np.linalg.norm(j - truth_j, axis=-1).mean() * 1000.0)})
    table = {name: {k: float(np.nanmean([r[k] for r in vals])) for k in vals[0]} for name, vals in rows.items()}
    table["found ground"] = {k: float(np.mean([f[k] for f in found])) for k in found[0]}
    table["found ground"]["clips_with_ground"] = float(len(found))
    table["clean mocap (reference)"] = {"sliding_cm_per_frame": float(np.nanmean(clean_sliding))}
    return table


def capture(body, path: Path) -> Dict[str, Dict[str, float]]:
    skinning = LandmarkSkinning(body)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    k = arrays["camera_intrinsics"].astype(np.float64)
    placed, report = place_capture(arrays, body, lock=False)
    locked, _ = place_capture(arrays, body, lock=True)
    if report.placement is None:
        return {"error": {"note": report.note}}
    p = report.placement
    out: Dict[str, Dict[str, float]] = {"found ground": {
        "camera_height_m": float(placed["camera_height"]), "pitch_deg": p.camera_pitch_deg,
        "contact_share": float(p.contacts.mean()), "frames": float(len(p.contacts))}}

    def joints(a: Dict[str, np.ndarray]) -> np.ndarray:
        return sequence_joints(skinning, make_sequence(a["poses"], a["transl"], a["betas"], float(a["fps"])))

    base = joints(arrays)
    uv0 = base @ k.T
    for name, a in (("capture", arrays), ("placed", placed), ("placed + locked", locked)):
        j = joints(a)
        uv = j @ k.T
        out[name] = {"sliding_cm_per_frame": foot_sliding(j, p.contacts, p.ground),
                     "penetration_cm": penetration(j, p.ground),
                     "root_depth_jitter_mm": float(np.abs(np.diff(j[:, 0, 2], 2)).mean() * 1000.0),
                     "image_shift_px": float(np.linalg.norm(uv[..., :2] / uv[..., 2:] - uv0[..., :2] / uv0[..., 2:],
                                                            axis=-1).mean())}
    return out


def print_table(title: str, table: Dict[str, Dict[str, float]]) -> None:
    print(f"\n{title}")
    for name, row in table.items():
        print(f"  {name:26s}" + "  ".join(f"{k} {v:.3g}" for k, v in row.items()))


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    held_out_arguments(parser, length=150)
    parser.add_argument("--sample", type=Path, default=None, help="footage to capture (place off) and measure")
    parser.add_argument("--person", type=int, action="append", default=None,
                        help="with --sample: capture this person of its people listing (repeatable; default: the "
                             "most visible)")
    parser.add_argument("--result", type=Path, default=None, help="a capture result (made with --no-place)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    body = load_body_model(default_body_model_path())
    figures = {}
    if args.clips > 0:
        figures["synthetic"] = synthetic(body, args.dataset, args.clips, args.length, args.seed)
        print_table(f"Placement on {args.clips} held-out clips x {args.length} frames seen by a known camera "
                    f"(depth error {SLOW_DEPTH:.0%} slow + {WHITE_DEPTH:.0%} white, keys {KEY_NOISE} rad):",
                    figures["synthetic"])
    results = [("capture", args.result)] if args.result is not None else []
    for person in (args.person or [-1]) if args.sample is not None else []:
        path = Path(tempfile.mkdtemp()) / f"{args.sample.stem}_person{person}.npz"
        run_capture(CaptureRequest(video=str(args.sample), output=str(path),
                                   options=CaptureOptions(place=False, hands=False),
                                   person=person),
                    lambda *a: None, lambda: False)
        results.append((f"capture person {person}" if person > 0 else "capture", path))
    for key, path in results:
        figures[key] = capture(body, path)
        frames = int(figures[key].get("found ground", {}).get("frames", 0))
        print_table(f"{key.capitalize()}: {path.name} ({frames} frames):", figures[key])
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
