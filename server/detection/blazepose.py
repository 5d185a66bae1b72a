"""Person detection and keypoints with MediaPipe BlazePose (full model, offline).

BlazePose sees one person per image; :class:`FollowingDetector` keeps following the first person it finds
(crops around them, a gate against passers-by, a scan while they are lost; see :mod:`server.detection.track`). The full model
(``model_complexity=1``) ships inside the mediapipe 0.10.21 wheel; complexities 0 and 2 would try to
download their models, so they are never used.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import numpy as np

from ..body.layout import NUM_LANDMARKS
from ..errors import JobError
from .track import Box, Observation, PersonFollower

log = logging.getLogger(__name__)

MODEL_COMPLEXITY = 1  # the full model; the only one available offline


class BlazePoseDetector:
    """One BlazePose graph. ``static=False`` tracks across consecutive :meth:`detect` calls (video mode);
    ``static=True`` treats every image on its own. Call :meth:`close` when done."""

    def __init__(self, static: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise JobError("missing_package", f"The worker cannot import MediaPipe ({exc}).",
                           "Run 'Set up worker' in the add-on preferences (it installs mediapipe==0.10.21).") from exc
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=static,
            model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=True,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def detect(self, rgb: np.ndarray) -> Optional[Observation]:
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
        return Observation(image=image, world=world)

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> "BlazePoseDetector":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class FollowingDetector:
    """Detects and follows one person through a clip (see :mod:`server.detection.track`); a context manager.
    ``guide``: frame -> (4,) box of the person to follow (a track of :mod:`server.detection.people_tracks`); None: the first found."""

    def __init__(self, guide: Optional[Dict[int, Box]] = None) -> None:
        self._graphs = [BlazePoseDetector(), BlazePoseDetector(), BlazePoseDetector(static=True)]
        full, crop, scan = (graph.detect for graph in self._graphs)
        self._follower = PersonFollower(full, crop, scan, guide=guide)

    def detect(self, rgb: np.ndarray, index: Optional[int] = None) -> Optional[Observation]:
        """(H, W, 3) uint8 RGB frame number ``index`` -> the followed person's landmarks in frame pixels, or None."""
        return self._follower.step(rgb, index)

    def close(self) -> None:
        for graph in self._graphs:
            graph.close()

    def __enter__(self) -> "FollowingDetector":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
