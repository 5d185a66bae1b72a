"""Contact sheet: video frames beside renders of the captured body at the same frames (numpy + OpenCV).

Used by the demo (scripts/demo.py) so a person can judge at a glance whether the armature followed
the motion. No bpy here: the renders arrive as image files.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)


def read_frames(video: str, indices: Sequence[int]) -> List[np.ndarray]:
    """BGR frames (H, W, 3) uint8 at the given 0-based indices, decoded sequentially."""
    wanted = set(int(i) for i in indices)
    found = {}
    capture = cv2.VideoCapture(video)
    try:
        index = 0
        while wanted - set(found):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                found[index] = frame
            index += 1
    finally:
        capture.release()
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"frames {sorted(missing)} could not be read from {video}")
    return [found[int(i)] for i in indices]


def _fit(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Letterbox ``image`` into ``size`` = (width, height) keeping its aspect ratio."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 24, dtype=np.uint8)
    top = (height - resized.shape[0]) // 2
    left = (width - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized[..., :3]
    return canvas


def compose(frames: Sequence[np.ndarray], renders: Sequence[np.ndarray], labels: Sequence[str],
            tile: Tuple[int, int] = (360, 240), columns: int = 2) -> np.ndarray:
    """Grid of (video frame | render) pairs with a label on each pair; returns a BGR uint8 image."""
    if not (len(frames) == len(renders) == len(labels)) or not frames:
        raise ValueError("need the same positive number of frames, renders and labels")
    pairs = []
    for frame, render, label in zip(frames, renders, labels):
        pair = np.concatenate([_fit(frame, tile), _fit(render, tile)], axis=1)
        cv2.putText(pair, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        pairs.append(pair)
    blank = np.zeros_like(pairs[0])
    while len(pairs) % columns:
        pairs.append(blank)
    rows = [np.concatenate(pairs[r:r + columns], axis=1) for r in range(0, len(pairs), columns)]
    sheet = np.concatenate(rows, axis=0)
    return sheet


def write_contact_sheet(video: str, frame_indices: Sequence[int], render_paths: Sequence[Path],
                        out: Path) -> Path:
    """Read frames and renders, compose them and write ``out`` (PNG)."""
    frames = read_frames(video, frame_indices)
    renders = []
    for path in render_paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"render {path} could not be read")
        renders.append(image)
    sheet = compose(frames, renders, [f"frame {i}" for i in frame_indices])
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"could not write {out}")
    log.info("contact sheet: %s (%dx%d)", out, sheet.shape[1], sheet.shape[0])
    return out
