"""Benchmark: build the skinned body mesh (mesh, 24 vertex groups, modifier, material) in headless Blender.

Run inside the project's .venv (it has bpy): ``python scripts/bench_body_mesh.py [--vertices 14000]``.
The mesh is synthetic with SMPL-like skinning: a third of the vertices rigid (one bone, weight 1), the rest
blended over 2-4 bones with distinct float32 weights (the worst case for batching equal weights).
Prints the median of the repeats; the same figure is logged by the add-on on every capture.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fakes"))

import fake_result  # noqa: E402
from tests.blender_scorehmr.blender_support import stage_repo, start_blender  # noqa: E402

log = logging.getLogger("bench_body_mesh")


def synthetic_body(vertices: int, seed: int = 0):
    """``BodyMesh``-shaped arrays: vertices ``(V, 3)`` near the joints, faces ``(2V, 3)``, weights ``(V, 24)``."""
    rng = np.random.default_rng(seed)
    joints = fake_result.JOINTS_REST.astype(np.float64)
    home = rng.integers(0, 24, vertices)
    verts = joints[home] + rng.normal(scale=0.05, size=(vertices, 3))
    weights = np.zeros((vertices, 24), dtype=np.float32)
    weights[np.arange(vertices), home] = 1.0
    blended = np.flatnonzero(rng.random(vertices) > 1 / 3)
    for _ in range(3):
        weights[blended, rng.integers(0, 24, blended.size)] += rng.random(blended.size).astype(np.float32)
    weights /= weights.sum(axis=1, keepdims=True)
    i = np.arange(vertices)
    faces = np.concatenate([np.stack([i, i + 1, i + 2], axis=1), np.stack([i, i + 2, i + 3], axis=1)]) % vertices
    faces = faces.astype(np.int32)  # a strip: valid triangles, no duplicates
    return verts.astype(np.float32), faces, weights


def main(argv: list) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vertices", type=int, default=14000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="scorehmr-bench-"))
    bl = start_blender(work / "user", stage_repo(work / "repo"))
    motion, rig, body_mesh = bl.sub("core.capture_result"), bl.sub("rig"), bl.sub("body_mesh")
    joints = fake_result.JOINTS_REST.astype(np.float64)
    armature = rig.create_armature(bl.bpy.context, "Bench", fake_result.JOINT_NAMES, fake_result.PARENTS,
                                   motion.rest_heads_armature(joints), joints)
    verts, faces, weights = synthetic_body(args.vertices)
    mesh = motion.BodyMesh(vertices=verts.astype(np.float64), faces=faces, weights=weights)
    rest = motion.rest_to_armature(mesh.vertices, joints)
    seconds = []
    for _ in range(args.repeats):
        tick = time.perf_counter()
        created = body_mesh.create_body(bl.bpy.context, armature, mesh, rest, fake_result.JOINT_NAMES,
                                        np.zeros(10), "bench")
        seconds.append(time.perf_counter() - tick)
        body_mesh.remove_created(created)
    print(f"body mesh: {args.vertices} vertices, {len(faces)} faces, {int((weights > 0).sum())} weights, "
          f"24 groups: median {statistics.median(seconds) * 1000:.1f} ms "
          f"(min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f}) over {args.repeats} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
