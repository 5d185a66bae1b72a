"""Writes our own SMPL skeleton as a BVH file (test helper): known rotations in, retargeted rotations out."""
from __future__ import annotations

from typing import List

import numpy as np

from server.body.layout import SMPL_JOINT_NAMES, SMPL_PARENTS


def smpl_bvh_text(rest_joints: np.ndarray, angles_deg: np.ndarray, root_pos: np.ndarray, units: float = 100.0,
                  order: str = "ZXY", frame_time: float = 1.0 / 120.0) -> str:
    """rest_joints (24, 3) metres; angles_deg (T, 24, 3) Euler angles in ``order``; root_pos (T, 3) in file units.
    Root: 6 channels (positions then rotations), others: 3 rotation channels; leaves get an End Site."""
    children: List[List[int]] = [[] for _ in SMPL_PARENTS]
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            children[p].append(j)
    rot_channels = " ".join(f"{a}rotation" for a in order)
    lines = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "  " * depth
        off = np.zeros(3) if SMPL_PARENTS[j] < 0 else (rest_joints[j] - rest_joints[SMPL_PARENTS[j]]) * units
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {SMPL_JOINT_NAMES[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.9f} {off[1]:.9f} {off[2]:.9f}")
        pos = "Xposition Yposition Zposition " if j == 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if j == 0 else 3} {pos}{rot_channels}")
        for c in children[j]:
            joint(c, depth + 1)
        if not children[j]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 {0.05 * units:.4f} 0", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    joint(0, 0)
    lines += ["MOTION", f"Frames: {angles_deg.shape[0]}", f"Frame Time: {frame_time:.8f}"]
    order_in_file = _dfs_order(children)
    for t in range(angles_deg.shape[0]):
        values = list(root_pos[t])
        for j in order_in_file:
            values += list(angles_deg[t, j])
        lines.append(" ".join(f"{v:.9f}" for v in values))
    return "\n".join(lines) + "\n"


def _dfs_order(children: List[List[int]]) -> List[int]:
    out: List[int] = []

    def visit(j: int) -> None:
        out.append(j)
        for c in children[j]:
            visit(c)

    visit(0)
    return out
