"""The common form every mocap reader produces: a skeleton and its posed global transforms over time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A source rig. names (S,), parents (S,) with -1 at the root and every parent before its children,
    offsets (S, 3) each joint's rest position relative to its parent in the parent's frame (source units).
    End sites are ordinary joints named ``<parent>_end`` that no channel drives."""

    names: Tuple[str, ...]
    parents: Tuple[int, ...]
    offsets: np.ndarray

    @property
    def index(self) -> Dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def rest_positions(self) -> np.ndarray:
        """(S, 3) joint positions of the zero-rotation pose (offsets accumulated, no rotation)."""
        pos = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos


@dataclass(frozen=True, eq=False)
class SourceMotion:
    """A clip in its source's own world frame and units.

    rotations (T, S, 3, 3) global joint orientations (joint frame -> world); positions (T, S, 3) global joint
    positions; fps the clip's true frame rate.
    """

    skeleton: Skeleton
    rotations: np.ndarray
    positions: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def frames(self, start: int, stop: int | None = None) -> "SourceMotion":
        """The same clip cut to frames [start, stop)."""
        return SourceMotion(self.skeleton, self.rotations[start:stop], self.positions[start:stop], self.fps)
