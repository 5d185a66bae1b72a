"""Contact sheet: video frames beside renders of the captured body at the same frames (numpy + OpenCV).

Used by the demo (scripts/demo.py) so a person can judge at a glance whether the armature followed the
motion. Each tile pair is cropped around the person: on the left the footage, on the right the render of
the posed body (seen through the footage's camera) laid over the dimmed footage. The camera overlay sheet
(:func:`write_overlay_sheet`) shows whole frames instead: the render through the matched camera over the full
footage, as the animator sees it in camera view. No bpy here: the renders arrive as image files with alpha.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

Box = Tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, exclusive end
TILE = (270, 360)                # width, height of one half of a pair (portrait: people are tall)


def person_box(keypoints: np.ndarray, image_size: Tuple[int, int], margin: float = 0.35,
               aspect: float = TILE[0] / TILE[1]) -> Box:
    """(33, 3) pixel keypoints + (width, height) -> a box around the person with ``aspect`` = w / h,
    enlarged by ``margin`` of the person's height and shifted (not shrunk) to stay inside the image."""
    width, height = image_size
    visible = keypoints[:, 2] >= 0.3
    points = keypoints[visible, :2] if visible.sum() >= 4 else keypoints[:, :2]
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    box_h = max(hi[1] - lo[1], (hi[0] - lo[0]) / aspect, 32.0) * (1 + 2 * margin)
    box_h = min(box_h, height, width / aspect)
    box_w = box_h * aspect
    x0 = int(round(np.clip(centre[0] - box_w / 2, 0, width - box_w)))
    y0 = int(round(np.clip(centre[1] - box_h / 2, 0, height - box_h)))
    return x0, y0, x0 + int(round(box_w)), y0 + int(round(box_h))


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


def overlay(background: np.ndarray, render_bgra: np.ndarray, dim: float = 0.45) -> np.ndarray:
    """Alpha-blend a (h, w, 4) render over the dimmed (H, W, 3) background (render resized to fit)."""
    size = (background.shape[1], background.shape[0])
    render = cv2.resize(render_bgra, size, interpolation=cv2.INTER_AREA)
    alpha = render[..., 3:4].astype(np.float32) / 255.0 if render.shape[2] == 4 else np.ones(render.shape[:2] + (1,))
    base = background.astype(np.float32) * dim
    return (render[..., :3].astype(np.float32) * alpha + base * (1 - alpha)).round().astype(np.uint8)


def pair_tile(frame: np.ndarray, render_bgra: np.ndarray, box: Box, label: str) -> np.ndarray:
    """One (TILE_h + label, 2 * TILE_w, 3) pair: the cropped footage | the render over it."""
    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    left = cv2.resize(crop, TILE, interpolation=cv2.INTER_AREA)
    right = cv2.resize(overlay(crop, render_bgra), TILE, interpolation=cv2.INTER_AREA)
    bar = np.full((26, 2 * TILE[0], 3), 32, dtype=np.uint8)
    cv2.putText(bar, label, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    pair = np.concatenate([left, right], axis=1)
    pair[:, TILE[0] - 1:TILE[0] + 1] = 255
    return np.concatenate([bar, pair], axis=0)


def overlay_tile(frame: np.ndarray, render_bgra: np.ndarray, label: str, width: int = 600,
                 dim: float = 0.85) -> np.ndarray:
    """One labelled tile (label bar + frame scaled to ``width``): the whole-frame render (any size with the frame's
    aspect) laid over the slightly dimmed full footage frame."""
    height = int(round(frame.shape[0] * width / frame.shape[1]))
    tile = cv2.resize(overlay(frame, render_bgra, dim=dim), (width, height), interpolation=cv2.INTER_AREA)
    bar = np.full((26, width, 3), 32, dtype=np.uint8)
    cv2.putText(bar, label, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def grid(tiles: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of one size in rows of ``columns``, separated by 4 px gaps."""
    tiles = list(tiles)
    blank = np.zeros_like(tiles[0])
    while len(tiles) % columns:
        tiles.append(blank)
    gap_v = np.zeros((tiles[0].shape[0], 4, 3), dtype=np.uint8)
    rows = []
    for r in range(0, len(tiles), columns):
        row = []
        for tile in tiles[r:r + columns]:
            row += [tile, gap_v]
        rows += [np.concatenate(row[:-1], axis=1), np.zeros((4, sum(t.shape[1] for t in row[:-1]), 3), np.uint8)]
    return np.concatenate(rows[:-1], axis=0)


def write_contact_sheet(video: str, frame_indices: Sequence[int], boxes: Sequence[Box],
                        render_paths: Sequence[Path], out: Path, columns: int = 2) -> Path:
    """Read the frames and the renders (cropped to ``boxes`` already), compose them and write ``out`` (PNG)."""
    frames = read_frames(video, frame_indices)
    tiles = []
    for frame, box, path, index in zip(frames, boxes, render_paths, frame_indices):
        render = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if render is None:
            raise ValueError(f"render {path} could not be read")
        tiles.append(pair_tile(frame, render, box, f"video frame {index}: footage | capture"))
    sheet = grid(tiles, columns)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"could not write {out}")
    log.info("contact sheet: %s (%dx%d)", out, sheet.shape[1], sheet.shape[0])
    return out


def write_overlay_sheet(video: str, frame_indices: Sequence[int], render_paths: Sequence[Path], out: Path,
                        columns: int = 2) -> Path:
    """Whole footage frames with the matching whole-frame renders (through the matched camera) over them, in a
    grid; write ``out`` (PNG)."""
    frames = read_frames(video, frame_indices)
    tiles = []
    for frame, path, index in zip(frames, render_paths, frame_indices):
        render = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if render is None:
            raise ValueError(f"render {path} could not be read")
        tiles.append(overlay_tile(frame, render, f"video frame {index}: capture over the footage (camera view)"))
    sheet = grid(tiles, columns)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"could not write {out}")
    log.info("camera overlay sheet: %s (%dx%d)", out, sheet.shape[1], sheet.shape[0])
    return out
