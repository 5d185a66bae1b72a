"""Moving-camera footage with a known rotation, made from a static clip (test and benchmark material).

A static camera's frame t warped through ``H_t = K_out R_t K_in^-1`` is what a camera at the same place, turned by
``R_t`` (``x_t = R_t x_0``), would see: exact for a pure rotation. The output is a centred crop of the input
(``crop`` of its width and height, same focal length), so a turn of a few degrees stays inside the footage; what
leaves it is black. What this material cannot show: parallax from a camera that walks, rolling shutter, motion
blur, a zoom (docs/models.md). For parallax, :func:`warp_layers` renders flat layers at known depths (a far wall, a
near object) seen by a camera that also moves sideways (:func:`walking_positions`): synthetic scenes only, the
clips have no depth.

Camera paths (:func:`camera_path`): ``pan``, ``tilt`` and ``roll`` turn smoothly by ``degrees`` over the clip,
``shake`` is a hand-held sway (slow sines of 0.2-1.5 Hz on all three axes), ``whip`` a fast pan over a tenth of
the clip, ``static`` none. A turn wider than the footage's own view leaves nothing of it in the frame
(:func:`largest_turn`).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..body.rotations import euler_to_rotmat

PATHS = ("static", "pan", "tilt", "roll", "shake", "whip")
SHAKE_FPS = 30.0
LOSSLESS_SUFFIXES = (".avi", ".mkv")   # written with FFV1


def intrinsics(width: int, height: int, focal: float) -> np.ndarray:
    """(3, 3) pinhole K with the principal point at the image centre."""
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def camera_path(kind: str, frames: int, degrees: float = 20.0, seed: int = 0) -> np.ndarray:
    """(frames, 3, 3) rotations ``R_t`` of the virtual camera (``R_0`` = identity) for a path of ``kind``
    (:data:`PATHS`). Angles are about the camera's axes: pan about y (x right, y down, z forward), tilt about x,
    roll about z."""
    if kind not in PATHS:
        raise ValueError(f"unknown camera path {kind!r}; one of {PATHS}")
    t = np.linspace(0.0, 1.0, frames)
    ease = 0.5 - 0.5 * np.cos(np.pi * t)           # smooth start and stop
    angles = np.zeros((frames, 3))                 # (tilt x, pan y, roll z) in radians
    if kind == "pan":
        angles[:, 1] = np.radians(degrees) * ease
    elif kind == "tilt":
        angles[:, 0] = np.radians(degrees) * ease
    elif kind == "roll":
        angles[:, 2] = np.radians(degrees) * ease
    elif kind == "shake":   # sway of a hand-held camera: 0.2-1.5 Hz at 30 frames per second, whatever the length
        rng = np.random.default_rng(seed)
        seconds = np.arange(frames) / SHAKE_FPS
        for axis in range(3):
            for _ in range(3):
                hertz, phase = rng.uniform(0.2, 1.5), rng.uniform(0, 2 * np.pi)
                angles[:, axis] += np.radians(degrees) / 6.0 * (np.sin(2 * np.pi * hertz * seconds + phase)
                                                                 - np.sin(phase))
    elif kind == "whip":
        fast = np.clip((t - 0.45) / 0.1, 0.0, 1.0)
        angles[:, 1] = np.radians(degrees) * (0.5 - 0.5 * np.cos(np.pi * fast))
    return euler_to_rotmat(angles, "xyz")


def largest_turn(width: int, height: int, axis: str, share: float = 0.6) -> float:
    """Degrees of the widest turn about ``axis`` ("pan": the horizontal view, "tilt": the vertical one, "roll": no
    limit) that keeps ``share`` of the footage's field of view in sight: a virtual camera cannot look where the
    static camera did not."""
    if axis == "roll":
        return 180.0
    side = width if axis == "pan" else height
    return share * float(np.degrees(2.0 * np.arctan(side / 2.0 / max(width, height))))


def warp_frame(frame: np.ndarray, rotation: np.ndarray, k_in: np.ndarray, k_out: np.ndarray,
               size_out: Tuple[int, int]) -> np.ndarray:
    """The (H, W, 3) ``frame`` as the camera turned by ``rotation`` (3, 3) sees it: (h_out, w_out, 3), with
    ``size_out`` = (w_out, h_out)."""
    homography = k_out @ rotation @ np.linalg.inv(k_in)
    return cv2.warpPerspective(frame, homography, size_out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def textured_wall(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(height, width, 3) a textured flat scene: blurred noise with rectangles and circles (corners for ORB)."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3)
    for _ in range(250):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(5, 40)), y + int(rng.integers(5, 40))), colour, -1)
        else:
            cv2.circle(image, (x, y), int(rng.integers(3, 20)), colour, -1)
    return image


def walking_positions(frames: int, metres: float) -> np.ndarray:
    """(frames, 3) camera centres in the first frame's camera coordinates (metres) of a camera that walks
    ``metres`` to its right over the clip, smoothly started and stopped."""
    ease = 0.5 - 0.5 * np.cos(np.pi * np.linspace(0.0, 1.0, frames))
    return np.stack([metres * ease, np.zeros(frames), np.zeros(frames)], 1)


def warp_layers(layers: Sequence[Tuple[np.ndarray, Optional[np.ndarray], float]], rotation: np.ndarray,
                position: np.ndarray, k_in: np.ndarray, k_out: np.ndarray, size_out: Tuple[int, int]) -> np.ndarray:
    """Flat ``layers`` ((H, W, 3) image as the first camera sees it, (H, W) mask of where the layer is (None: all
    of it), depth in metres of its plane facing that camera), far to near, as a camera at ``position`` (3,) turned
    by ``rotation`` (3, 3) sees them (``x_t = R_t (x_0 - c_t)``): (h_out, w_out, 3). Each plane maps through its own
    homography ``K_out (R - R c n^T / d) K_in^-1`` (n the plane's normal), so near layers slide across far ones."""
    normal = np.array([0.0, 0.0, 1.0])
    out: Optional[np.ndarray] = None
    for image, mask, depth in layers:
        homography = k_out @ (rotation - np.outer(rotation @ position, normal) / depth) @ np.linalg.inv(k_in)
        warped = cv2.warpPerspective(image, homography, size_out, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT)
        if out is None:
            out = warped
            continue
        where = np.full(image.shape[:2], 255, np.uint8) if mask is None else mask
        covered = cv2.warpPerspective(where, homography, size_out, flags=cv2.INTER_NEAREST) > 0
        out[covered] = warped[covered]
    if out is None:
        raise ValueError("no layers to render")
    return out


def virtual_view(width: int, height: int, crop: float = 0.8) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
    """(K of the static footage, K of the virtual camera, its (width, height)): the footage's focal length (the
    worker's assumption, ``max(width, height)``) on a centred crop of ``crop`` of each side."""
    focal = float(max(width, height))
    size = (int(round(width * crop)) // 2 * 2, int(round(height * crop)) // 2 * 2)
    return intrinsics(width, height, focal), intrinsics(size[0], size[1], focal), size


def write_moving_clip(source: str, output: str, kind: str, degrees: float = 20.0, crop: float = 0.8,
                      seed: int = 0, frames: int = 0) -> np.ndarray:
    """Write ``output``: ``source`` seen by a virtual camera on path ``kind`` (``.avi`` / ``.mkv``: lossless FFV1,
    so the detector sees what it would in the source; else MPEG-4, smaller but blockier); ``frames`` > 0 keeps only that
    many. Returns the true rotations (N, 3, 3). Raises ValueError when ``output`` is ``source`` (nothing is written)
    or ``source`` cannot be read."""
    if os.path.exists(output) and os.path.samefile(source, output):
        raise ValueError(f"{output} is the input clip; writing the moving clip would replace it")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened() or int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) < 1:
        capture.release()
        raise ValueError(f"cannot read {source} as a video")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    count = min(count, frames) if frames > 0 else count
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    k_in, k_out, size = virtual_view(width, height, crop)
    rotations = camera_path(kind, count, degrees, seed)
    lossless = os.path.splitext(output)[1].lower() in LOSSLESS_SUFFIXES
    writer = cv2.VideoWriter(output, cv2.VideoWriter.fourcc(*("FFV1" if lossless else "mp4v")), fps, size)
    try:
        for index in range(count):
            ok, frame = capture.read()
            if not ok:
                rotations = rotations[:index]
                break
            writer.write(warp_frame(frame, rotations[index], k_in, k_out, size))
    finally:
        writer.release()
        capture.release()
    return rotations
