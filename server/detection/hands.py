"""Hands of the followed person: MediaPipe's hand landmark model on crops placed by BlazePose's wrist, index and pinky.

The body already says where each hand is, so there is no palm search over the frame: as MediaPipe Holistic does, a
square crop is centred on the knuckles BlazePose sees (two thirds index, one third pinky), turned so the wrist is
below them, and sized from the wrist-knuckle distance; the hand landmark model (``hand_landmark_full``, shipped in the
mediapipe 0.10.21 wheel) runs on that crop alone. Left and right come from the body (the crop around the body's left
wrist holds its left hand), never from the model's own label, which flips on mirrored crops. A hand is kept only when
the model is confident enough and the hand belongs to the body: its wrist near the body's wrist, its size that of
the forearm's hand (:func:`belongs_to_body`); so a neighbour's hand in the crop, or a hand found beside the wrist, is
dropped, not assigned to the captured person. A hand not kept is looked for once more in a larger crop
(``HandConfig.retry_crop_scale``). The hands are looked for about 15 times a second (:func:`hand_step`).
The ROI maths are pure functions; :class:`HandLandmarker` wraps the graph.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Optional, Sequence, Tuple

import numpy as np

from ..body.layout import HAND_SIDES, LANDMARK_INDEX
from ..errors import JobError

log = logging.getLogger(__name__)

HAND_LANDMARK_NAMES: Tuple[str, ...] = (
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
NUM_HAND_LANDMARKS = len(HAND_LANDMARK_NAMES)
MODEL_COMPLEXITY = 1   # hand_landmark_full; 0 is the lite model (faster, finds fewer hands)
_MIDDLE_MCP = HAND_LANDMARK_NAMES.index("middle_mcp")

# The hand landmark subgraph as the mediapipe wheel registers it, fed our own crop (ROI); its presence threshold is
# set to 0 and its inner presence-score stream is read, so this module decides (HandConfig.min_presence).
_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:landmarks"
output_stream: "WORLD_LANDMARKS:world_landmarks"
node {
  calculator: "HandLandmarkCpu"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "WORLD_LANDMARKS:world_landmarks"
}
"""
_PRESENCE_STREAM = "handlandmarkcpu__hand_presence_score"
_THRESHOLD_NODE = "handlandmarkcpu__ThresholdingCalculator.threshold"


@dataclass(frozen=True)
class HandConfig:
    """Tuning of the hands stage (chosen on Pose2Sim's multi-person demo, see docs/models.md "Hands and fingers")."""

    crop_scale: float = 3.4          # crop side = crop_scale * |knuckles - wrist| (BlazePose's points)
    min_wrist_visibility: float = 0.5  # BlazePose's visibility of the wrist needed to look for its hand
    min_presence: float = 0.2        # the hand landmark model's presence score needed to keep a hand
    max_wrist_offset: float = 0.35   # the hand's wrist within this share of the crop side from the body's wrist
    size_range: Tuple[float, float] = (0.5, 2.5)  # hand's wrist-to-middle-knuckle length / body's wrist-knuckles
    looks_per_second: float = 15.0   # hands are looked for on every k-th frame, k = round(fps / this) (at least 1)
    retry_crop_scale: float = 4.0    # a hand not kept is looked for again in a crop this large (0: not; the
                                     # tuning clip: 3.0 points more hands found, the same angle error)

    @property
    def crop_scales(self) -> Tuple[float, ...]:
        """The crops tried in turn for a hand, until one keeps it."""
        return (self.crop_scale,) + ((self.retry_crop_scale,) if self.retry_crop_scale > 0 else ())


def hand_step(fps: float, config: HandConfig = HandConfig()) -> int:
    """Look for the hands on every k-th frame of footage at ``fps``: k (at least 1)."""
    return max(1, int(round(fps / config.looks_per_second))) if fps > 0 else 1


@dataclass(frozen=True)
class HandRoi:
    """A square crop: ``centre`` (2,) pixels, ``side`` pixels, ``rotation`` radians (MediaPipe's: the crop is turned
    by this angle, counter-clockwise in the image, so the wrist is below the knuckles); ``reach`` the body's
    wrist-to-knuckles distance (pixels) it was sized from."""

    centre: np.ndarray
    side: float
    rotation: float
    reach: float


@dataclass(frozen=True)
class HandSighting:
    """One hand from the model: ``image`` (21, 3) pixels x, y and depth z (pixels, relative to the wrist, larger
    = farther); ``world`` (21, 3) metres about the hand's centre (x right, y down, z away, as MediaPipe gives);
    ``presence`` the model's score in [0, 1]."""

    image: np.ndarray
    world: np.ndarray
    presence: float


@dataclass(frozen=True)
class HandsFrame:
    """Both hands of one frame (left, right): ``image`` (2, 21, 3) and ``world`` (2, 21, 3) as in
    :class:`HandSighting` (zeros where no hand was kept); ``confidence`` (2,) the presence score of a kept hand, 0
    where none was."""

    image: np.ndarray
    world: np.ndarray
    confidence: np.ndarray

    @staticmethod
    def empty() -> "HandsFrame":
        return HandsFrame(np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32),
                          np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32), np.zeros(2, np.float32))


@dataclass(frozen=True)
class HandTrack:
    """Both hands over M frames: ``image`` (M, 2, 21, 3), ``world`` (M, 2, 21, 3), ``confidence`` (M, 2), each
    frame as in :class:`HandsFrame`; ``looked`` (M,) bool the frames the hands were looked for on (the others are
    empty: not missed, not looked at)."""

    image: np.ndarray
    world: np.ndarray
    confidence: np.ndarray
    looked: np.ndarray

    @staticmethod
    def of(frames: Sequence[Optional[HandsFrame]]) -> "HandTrack":
        """The frames' hands, stacked in order; None: a frame not looked at (zero frames: empty arrays)."""
        if not frames:
            return HandTrack(np.zeros((0, 2, NUM_HAND_LANDMARKS, 3), np.float32),
                             np.zeros((0, 2, NUM_HAND_LANDMARKS, 3), np.float32), np.zeros((0, 2), np.float32),
                             np.zeros(0, bool))
        filled = [f if f is not None else HandsFrame.empty() for f in frames]
        return HandTrack(np.stack([f.image for f in filled]), np.stack([f.world for f in filled]),
                         np.stack([f.confidence for f in filled]), np.array([f is not None for f in frames]))

    def rows(self, mask: np.ndarray) -> "HandTrack":
        """The frames where ``mask`` (M,) bool is true."""
        return HandTrack(self.image[mask], self.world[mask], self.confidence[mask], self.looked[mask])

    @staticmethod
    def joined(parts: Sequence["HandTrack"]) -> "HandTrack":
        """``parts`` one after the other."""
        return HandTrack(np.concatenate([p.image for p in parts]), np.concatenate([p.world for p in parts]),
                         np.concatenate([p.confidence for p in parts]), np.concatenate([p.looked for p in parts]))


def _body_points(body: np.ndarray, side: str) -> Tuple[np.ndarray, np.ndarray, float]:
    """(33, 3) BlazePose image landmarks -> the wrist (2,), the knuckles (2,) and the wrist's visibility."""
    wrist = body[LANDMARK_INDEX[f"{side}_wrist"]]
    index, pinky = body[LANDMARK_INDEX[f"{side}_index"], :2], body[LANDMARK_INDEX[f"{side}_pinky"], :2]
    return wrist[:2].astype(np.float64), (2.0 * index + pinky) / 3.0, float(wrist[2])


def hand_roi(body: np.ndarray, side: str, config: HandConfig = HandConfig()) -> Optional[HandRoi]:
    """(33, 3) BlazePose image landmarks (pixels + visibility) -> the crop for that ``side``'s hand, or None when the
    wrist is not visible enough or its points are not finite."""
    wrist, knuckles, visibility = _body_points(body, side)
    if visibility < config.min_wrist_visibility or not (np.all(np.isfinite(wrist)) and np.all(np.isfinite(knuckles))):
        return None
    toward = knuckles - wrist
    reach = float(np.hypot(*toward))
    if reach < 1.0:
        return None
    rotation = _normal_angle(math.pi / 2 - math.atan2(-toward[1], toward[0]))
    return HandRoi(centre=knuckles, side=config.crop_scale * reach, rotation=rotation, reach=reach)


def _normal_angle(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def belongs_to_body(hand: np.ndarray, body: np.ndarray, side: str, roi: HandRoi,
                    config: HandConfig = HandConfig()) -> bool:
    """Whether a hand found in ``roi`` is the body's own: (21, 2+) hand image landmarks, (33, 3) body landmarks.

    Its wrist must lie within ``max_wrist_offset`` of the crop side from the body's wrist, and its wrist-to-middle-
    knuckle length within ``size_range`` of the body's wrist-to-knuckles distance (a neighbour's hand in the crop is
    elsewhere or of another size)."""
    wrist, _, _ = _body_points(body, side)
    offset = float(np.hypot(*(hand[0, :2] - wrist)))
    length = float(np.hypot(*(hand[_MIDDLE_MCP, :2] - hand[0, :2])))
    low, high = config.size_range
    return offset <= config.max_wrist_offset * roi.side and low * roi.reach <= length <= high * roi.reach


class HandLandmarker:
    """MediaPipe's hand landmark model on given crops (one graph, one core). Call :meth:`close` when done."""

    def __init__(self, complexity: int = MODEL_COMPLEXITY) -> None:
        try:
            from mediapipe.python.solution_base import PacketDataType, SolutionBase
        except ImportError as exc:
            raise JobError("missing_package", f"The worker cannot import MediaPipe ({exc}).",
                           "Run 'Set up worker' in the add-on preferences (it installs mediapipe==0.10.21).") from exc
        self._graph = SolutionBase(graph_config=_GRAPH, side_inputs={"model_complexity": complexity},
                                   outputs=["landmarks", "world_landmarks", _PRESENCE_STREAM],
                                   stream_type_hints={"roi": PacketDataType.PROTO, "image": PacketDataType.IMAGE},
                                   calculator_params={_THRESHOLD_NODE: 0.0})

    def detect(self, rgb: np.ndarray, roi: HandRoi) -> Optional[HandSighting]:
        """(H, W, 3) uint8 RGB frame and a crop -> the hand in it (whatever its presence score), or None."""
        from mediapipe.framework.formats import rect_pb2

        height, width = rgb.shape[:2]
        rect = rect_pb2.NormalizedRect(x_center=float(roi.centre[0]) / width, y_center=float(roi.centre[1]) / height,
                                       width=roi.side / width, height=roi.side / height, rotation=roi.rotation)
        out = self._graph.process({"image": rgb, "roi": rect})
        presence = getattr(out, _PRESENCE_STREAM)
        if out.landmarks is None or out.world_landmarks is None or presence is None:
            return None
        image = np.array([(p.x * width, p.y * height, p.z * width) for p in out.landmarks.landmark], np.float32)
        world = np.array([(p.x, p.y, p.z) for p in out.world_landmarks.landmark], np.float32)
        if image.shape != (NUM_HAND_LANDMARKS, 3) or world.shape != (NUM_HAND_LANDMARKS, 3):
            raise JobError("internal", f"The hand landmark model returned {image.shape[0]} landmarks, expected "
                           f"{NUM_HAND_LANDMARKS}.", "Reinstall the worker (mediapipe==0.10.21).")
        return HandSighting(image=image, world=world, presence=float(presence))

    def hands(self, rgb: np.ndarray, body: np.ndarray, config: HandConfig = HandConfig()) -> HandsFrame:
        """(H, W, 3) uint8 RGB frame and the followed person's (33, 3) BlazePose landmarks -> their two hands."""
        found = HandsFrame.empty()
        for slot, side in enumerate(HAND_SIDES):
            for scale in config.crop_scales:
                sighting = self._kept(rgb, body, side, replace(config, crop_scale=scale))
                if sighting is not None:
                    found.image[slot], found.world[slot] = sighting.image, sighting.world
                    found.confidence[slot] = sighting.presence
                    break
        return found

    def _kept(self, rgb: np.ndarray, body: np.ndarray, side: str, config: HandConfig) -> Optional[HandSighting]:
        """The body's ``side`` hand in ``config``'s crop, when confident and the body's own; else None."""
        roi = hand_roi(body, side, config)
        if roi is None:
            return None
        sighting = self.detect(rgb, roi)
        if sighting is None or sighting.presence < config.min_presence:
            return None
        if not belongs_to_body(sighting.image, body, side, roi, config):
            log.debug("%s hand found away from the body's %s wrist: dropped", side, side)
            return None
        return sighting

    def close(self) -> None:
        self._graph.close()

    def __enter__(self) -> "HandLandmarker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

