"""Person detection and keypoints with MediaPipe BlazePose (full model, offline).

BlazePose runs in tracking mode: after the first detection it follows the same person from frame to
frame through its region of interest, which is how we follow one person in the clip. The full model
(``model_complexity=1``) ships inside the mediapipe 0.10.21 wheel; complexities 0 and 2 would try to
download their models, so they are never used.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .body.layout import NUM_LANDMARKS
from .errors import JobError

log = logging.getLogger(__name__)

MODEL_COMPLEXITY = 1  # the full model; the only one available offline


@dataclass(frozen=True)
class PoseObservation:
    """BlazePose output for one frame.

    image: (33, 3) float32 -- x, y in pixels, visibility in [0, 1].
    world: (33, 4) float32 -- metric landmarks (metres, hip-centred, camera-aligned axes) + visibility.
    """

    image: np.ndarray
    world: np.ndarray


class BlazePoseDetector:
    """Stateful per-clip detector: call :meth:`detect` on consecutive frames, then :meth:`close`."""

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise JobError("missing_package", f"The worker cannot import MediaPipe ({exc}).",
                           "Run 'Set up worker' in the add-on preferences (it installs mediapipe==0.10.21).") from exc
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=True,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def detect(self, rgb: np.ndarray) -> Optional[PoseObservation]:
        """(H, W, 3) uint8 RGB frame -> the tracked person's landmarks, or None when nobody is found."""
        height, width = rgb.shape[:2]
        result = self._pose.process(rgb)
        if result.pose_landmarks is None or result.pose_world_landmarks is None:
            return None
        image = np.array([(p.x * width, p.y * height, p.visibility) for p in result.pose_landmarks.landmark],
                         dtype=np.float32)
        world = np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_world_landmarks.landmark],
                         dtype=np.float32)
        if image.shape != (NUM_LANDMARKS, 3) or world.shape != (NUM_LANDMARKS, 4):
            raise JobError("internal", f"BlazePose returned {image.shape[0]} landmarks, expected {NUM_LANDMARKS}.",
                           "Reinstall the worker (mediapipe==0.10.21).")
        return PoseObservation(image=image, world=world)

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> "BlazePoseDetector":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
