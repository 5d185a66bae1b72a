"""Quick look at a body: flat-shaded orthographic views rasterised with OpenCV (painter's algorithm)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

# View name -> (right axis, up axis, toward-viewer axis) as rows of a rotation of SMPL's frame.
VIEWS = {
    "front": np.eye(3),  # the body's left on the image's right
    "side": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),  # from the body's right, face right
}


def render_view(vertices: np.ndarray, faces: np.ndarray, view: str, size: int = 420, scale: float = 200.0,
                points: Optional[np.ndarray] = None, center: Optional[np.ndarray] = None) -> np.ndarray:
    """(V, 3) vertices, (F, 3) faces -> (size, size, 3) uint8 image; ``points`` (P, 3) drawn as red dots.

    ``scale`` is pixels per metre; ``center`` (3,) the point at the image centre (default: bounding-box centre).
    """
    import cv2

    rot = VIEWS[view]
    centre = (vertices.min(0) + vertices.max(0)) / 2 if center is None else center
    cam = (vertices - centre) @ rot.T
    px = np.stack([size / 2 + scale * cam[:, 0], size / 2 - scale * cam[:, 1]], axis=1)
    tri = cam[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    shade = np.clip(0.25 + 0.75 * np.abs(normal @ np.array([0.3, 0.4, 0.87])), 0, 1)
    img = np.full((size, size, 3), 255, np.uint8)
    order = np.argsort(tri[:, :, 2].mean(1))  # far to near
    pts = np.round(px[faces] * 16).astype(np.int32)
    for k in order:
        c = int(200 * shade[k])
        cv2.fillConvexPoly(img, pts[k], (c, c, int(c * 0.9) + 20), lineType=cv2.LINE_AA, shift=4)
    if points is not None:
        p = (points - centre) @ rot.T
        for x, y in zip(size / 2 + scale * p[:, 0], size / 2 - scale * p[:, 1]):
            cv2.circle(img, (int(round(x)), int(round(y))), 3, (0, 0, 230), -1)
    return img


def write_sheet(path: Path, rows: Sequence[Tuple[str, np.ndarray, Optional[np.ndarray]]], faces: np.ndarray,
                size: int = 420, scale: float = 200.0) -> None:
    """One row per (label, vertices (V, 3), points (P, 3) or None): front and side views, written as PNG."""
    import cv2

    tiles = []
    for label, verts, points in rows:
        row = [render_view(verts, faces, view, size, scale, points) for view in VIEWS]
        strip = np.concatenate(row, axis=1)
        cv2.putText(strip, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(strip)
    cv2.imwrite(str(path), np.concatenate(tiles, axis=0))
    log.info("wrote %s", path)
