"""Visual and numeric proof of the mocap retarget, per source.

For each source: a contact sheet PNG (a few clips x a few frames; each cell shows the source skeleton and our body's
skeleton posed with the retargeted SMPL rotations, from the front and from the body's left side, ground line at
y = 0) and the mean angle between source and SMPL bone directions on every mapped bone over all of the source's
clips. Writes to --out (default: <cache>/retarget_report, never the repository).

    .venv/bin/python scripts/retarget_report.py --mocap ~/.cache/blender_scorehmr/mocap
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.body.layout import SMPL_PARENTS  # noqa: E402
from server.body.rotations import forward_kinematics  # noqa: E402
from server.data.archive import ClipSpec, list_clips, load_clip  # noqa: E402
from server.data.dataset import default_cache_dir  # noqa: E402
from server.data.mocap_retarget import (bone_direction_errors, bone_groups, floor_offset, make_plan,  # noqa: E402
                                  retarget)

log = logging.getLogger("retarget_report")
CELL = 150  # pixels per view panel
EXTRA = ("cmu_rgbdacq_ammarkov", "opengl_acquisition_shared_library/opengl_depth_and_color_renderer/Motions/02_03.bvh")


def _project(points: np.ndarray, view: str, centre: np.ndarray, scale: float) -> np.ndarray:
    """(N, 3) canonical points -> (N, 2) pixels; 'front' looks along -z, 'side' from the body's left (+x)."""
    p = points - centre
    u = -p[:, 0] if view == "front" else p[:, 2]
    return np.stack([CELL / 2 + u * scale, CELL * 0.9 - (points[:, 1]) * scale], -1).astype(np.int32)


def _draw(img: np.ndarray, x0: int, pts: np.ndarray, parents: Sequence[int], colours: List[tuple],
          view: str, centre: np.ndarray, scale: float) -> None:
    px = _project(pts, view, centre, scale) + np.array([x0, 0])
    cv2.line(img, (x0 + 5, int(CELL * 0.9)), (x0 + CELL - 5, int(CELL * 0.9)), (150, 150, 150), 1)
    for j, p in enumerate(parents):
        if p >= 0:
            cv2.line(img, tuple(px[p]), tuple(px[j]), colours[j], 2, cv2.LINE_AA)


def _smpl_colours() -> List[tuple]:
    from server.body.layout import SMPL_JOINT_NAMES
    return [(40, 40, 220) if n.startswith("left") else (220, 90, 30) if n.startswith("right") else (40, 40, 40)
            for n in SMPL_JOINT_NAMES]


def clip_cells(root: Path, spec: ClipSpec, frames: int = 6, per_row: int = 3) -> np.ndarray:
    """The contact-sheet block of one clip: ``frames`` evenly spaced frames, ``per_row`` per row, each frame four
    panels (source front, ours front, source side, ours side)."""
    motion, cfg, rest = load_clip(root, spec)
    plan = make_plan(motion.skeleton, cfg, rest)
    poses, transl = retarget(motion, plan)
    shift = np.array([0.0, floor_offset(poses, transl, plan.body_joints), 0.0])
    joints, _ = forward_kinematics(poses, plan.body_joints, SMPL_PARENTS)
    joints = joints + transl[:, None] - shift
    src = plan.scale * motion.positions @ plan.canon.T - shift
    src_col = [(40, 40, 220) if _is_left(n) else (220, 90, 30) if _is_right(n) else (40, 40, 40)
               for n in motion.skeleton.names]
    rows = -(-frames // per_row)
    block = np.full((rows * (CELL + 4) + 22, per_row * 4 * CELL, 3), 255, np.uint8)
    scale = CELL * 0.8 / 2.0
    for k, t in enumerate(np.linspace(0, motion.num_frames - 1, frames).astype(int)):
        y0, col = (k // per_row) * (CELL + 4), k % per_row
        cell = block[y0:y0 + CELL, col * 4 * CELL:(col + 1) * 4 * CELL]
        centre = joints[t, 0]
        for v, view in enumerate(("front", "side")):
            _draw(cell, 2 * v * CELL, src[t], motion.skeleton.parents, src_col, view, centre, scale)
            _draw(cell, (2 * v + 1) * CELL, joints[t], SMPL_PARENTS, _smpl_colours(), view, centre, scale)
        cv2.putText(cell, f"frame {t}", (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.line(cell, (0, 0), (0, CELL), (200, 200, 200), 1)
    cv2.putText(block, f"{spec.name} [{cfg.name}]  each frame: source front | ours front | source side | ours side"
                f"  (left side red, right blue)", (4, block.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (0, 0, 0), 1)
    return block


def _is_left(name: str) -> bool:
    n = name.replace("CC_Base_", "")
    return (n.startswith(("L_", "left", "Left", "LHip", "LFing", "LThumb")) or n.endswith((".L", ".l")) or ".L_" in n
            or ".l_" in n or (len(n) > 1 and n[0] == "l" and (n[1].isupper() or n[1:].startswith(
                ("hip", "knee", "foot", "collar", "shoulder", "elbow", "hand", "thumb", "buttock")))))


def _is_right(name: str) -> bool:
    n = name.replace("CC_Base_", "")
    return (n.startswith(("R_", "right", "Right", "RHip", "RFing", "RThumb")) or n.endswith((".R", ".r")) or ".R_" in n
            or ".r_" in n or (len(n) > 1 and n[0] == "r" and (n[1].isupper() or n[1:].startswith(
                ("hip", "knee", "foot", "collar", "shoulder", "elbow", "hand", "thumb", "buttock")))))


def source_errors(root: Path, specs: List[ClipSpec]) -> Dict[str, float]:
    """Mean bone-direction angle (degrees) per bone over all frames of the given clips."""
    sums: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0])
    for spec in specs:
        motion, cfg, rest = load_clip(root, spec)
        plan = make_plan(motion.skeleton, cfg, rest)
        poses, _ = retarget(motion, plan)
        for bone, angles in bone_direction_errors(motion, plan, poses).items():
            sums[bone][0] += float(angles.sum())
            sums[bone][1] += angles.size
    return {bone: s / max(n, 1) for bone, (s, n) in sums.items()}


def pick(specs: List[ClipSpec], count: int) -> List[ClipSpec]:
    """A spread of clips (different subjects first)."""
    chosen, subjects = [], set()
    for spec in specs:
        if spec.subject not in subjects:
            chosen.append(spec)
            subjects.add(spec.subject)
    chosen += [s for s in specs if s not in chosen]
    return chosen[:count]


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mocap", type=Path, default=default_cache_dir() / "mocap")
    parser.add_argument("--out", type=Path, default=default_cache_dir() / "retarget_report")
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args(list(argv) or None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    by_source: Dict[str, List[ClipSpec]] = defaultdict(list)
    for spec in list_clips(args.mocap):
        by_source[spec.source].append(spec)
    extra = ClipSpec(EXTRA[0], EXTRA[1], "cmu002", "02_03_mocapnet")
    if (args.mocap / EXTRA[0] / EXTRA[1]).is_file():
        by_source["mocapnet_check(not in dataset)"].append(extra)
    for source, specs in by_source.items():
        rows = [clip_cells(args.mocap, s, args.frames) for s in pick(specs, args.clips)]
        path = args.out / f"{source.split('(')[0]}.png"
        cv2.imwrite(str(path), np.concatenate(rows, 0))
        errors = source_errors(args.mocap, specs)
        groups = bone_groups(errors)
        summary = ", ".join(f"{g} {np.mean([errors[b] for b in bones]):.2f}" for g, bones in groups.items() if bones)
        print(f"{source}: mean bone-direction angle {np.mean(list(errors.values())):.2f} deg over "
              f"{len(errors)} bones ({summary}); sheet {path}")
        print("    " + "; ".join(f"{b} {e:.2f}" for b, e in errors.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
