"""Blender's side of a long capture: applying a result file of many frames to a new armature, timed.

    .venv/bin/python scripts/benchmark_keys.py [--frames 3680 18000]

(``python3 build.py benchmark`` runs it.) Headless Blender (the bpy module) with the add-on enabled the way Blender
loads it; for each length, a result file in the worker's schema (the test suite's synthetic take: 24 joints, the
body mesh, a person moving for the whole clip) is applied by :func:`blender_scorehmr.apply.apply_result`, as Capture
Motion does when the worker is done: the armature, the skinned body mesh, one key per frame on 24 x 4 rotation
curves and 3 location curves. Prints seconds, keys per second and the seconds per 1,000 frames (flat = linear).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fakes"))

from fake_result import make_result  # noqa: E402
from tests.blender_scorehmr.blender_support import start_blender, stage_repo  # noqa: E402

log = logging.getLogger("benchmark_keys")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[3680, 18000], help="result lengths, in frames")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="scorehmr-keys-"))
    bl = start_blender(work / "user", stage_repo(work / "repo"))
    apply = bl.sub("apply")
    print(f"{'frames':>7}{'seconds':>9}{'keys/s':>12}{'s per 1k frames':>17}")
    for count in args.frames:
        path = work / f"result_{count}.npz"
        np.savez(path, **make_result(np.arange(count), fps=30.0, source_video="long.mp4"))
        request = apply.ApplyRequest(job_id=f"bench{count}", video="long.mp4", start=0, end=-1, scene_start=1,
                                       match_scene_fps=True, fit_scene_range=True, target_name="", job_dir=str(work))
        tick = time.perf_counter()
        target = apply.apply_result(bl.bpy.context, request, path)
        seconds = time.perf_counter() - tick
        keys = sum(len(curve.keyframe_points) for curve in _curves(target))
        print(f"{count:>7}{seconds:>9.2f}{keys / seconds:>12,.0f}{1000 * seconds / count:>17.3f}")
    return 0


def _curves(target) -> list:
    """The F-Curves of ``target``'s action (layered actions: its slot's channelbag; older Blender: action.fcurves)."""
    from tests.blender_scorehmr.blender_support import _action_fcurves

    return list(_action_fcurves(target.animation_data.action))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
