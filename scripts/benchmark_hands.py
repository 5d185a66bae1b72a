"""Hands: how often the hands stage finds the followed person's hands, how right their finger angles are, its cost.

    .venv/bin/python scripts/benchmark_hands.py --multiview ~/.cache/blender_scorehmr/footage/pose2sim \\
        --sample ~/.cache/blender_scorehmr/footage/sports2d_demo.mp4 \\
        [--tuning ~/.cache/blender_scorehmr/footage/pose2sim_multi]

On Pose2Sim's four calibrated views (``--multiview``) each view is scored alone against a reference made of the OTHER
three views' hands, triangulated (a view never grades itself): hands found (% of the frames where BlazePose sees
that wrist), the 15 finger joint angles (:mod:`server.hands.angles`) against the reference's (median error, degrees)
of the view's own metric hand, of the fitted fingers (:mod:`server.hands.fit`) and of a rest-pose hand (the built-in
body's) on the frames the view found a hand, and of the fitted (filled) fingers on the frames it missed; and
milliseconds per frame for both hands (process time, this machine). On Sports2D (``--sample``): hands found.
``--tuning`` (Pose2Sim's multi-person demo, the clip the crop size, presence threshold and second crop were chosen
on; see docs/models.md "Hands") prints the same table for a grid of both (one crop each) and for each second crop
(a hand not kept in the first is looked for again there); no number was chosen on the two evaluation clips.

The body's landmarks come from the cached four-view detections of ``scripts/pose2sim_reference.py`` (the same person
in every view); the hands are detected once per view and crop size and cached next to the footage (``*.hands*.npz``,
every hand the model returns, with its presence score, so thresholds are scored without running it again).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from pose2sim_reference import CAMERAS, consistent_keypoints, load_cameras  # noqa: E402
from server import video as videos  # noqa: E402
from server.detection.hands import (HAND_SIDES, HandConfig, HandLandmarker, belongs_to_body, hand_roi,  # noqa: E402
                                    hand_step)
from server.detection.keypoints_file import load_keypoints  # noqa: E402
from server.fitting.triangulate import triangulate  # noqa: E402
from server.hands.angles import joint_angles  # noqa: E402

log = logging.getLogger("benchmark_hands")

REFERENCE_PRESENCE = 0.5   # a view's hand takes part in the reference at MediaPipe's own default threshold
TUNING_SCALES = (2.7, 3.4, 4.0)
TUNING_PRESENCE = (0.5, 0.3, 0.2, 0.1)


@dataclass
class ViewHands:
    """Every hand the model returned on one view's frames: ``image`` (N, 2, 21, 3) pixels, ``world`` (N, 2, 21, 3)
    metres, ``presence`` (N, 2) (0 where no crop was made), ``owned`` (N, 2) the hand belongs to the body,
    ``wrist_seen`` (N, 2) BlazePose sees the wrist; ``seconds`` (N,) process time per frame."""

    image: np.ndarray
    world: np.ndarray
    presence: np.ndarray
    owned: np.ndarray
    wrist_seen: np.ndarray
    seconds: np.ndarray

    def kept(self, config: HandConfig) -> np.ndarray:
        """(N, 2) the hands the stage keeps with ``config``'s presence threshold."""
        return self.owned & (self.presence >= config.min_presence)


def detect_view(video: Path, frames: np.ndarray, body: np.ndarray, config: HandConfig, cache: Path) -> ViewHands:
    """Run the hand landmark model on ``video``'s ``frames`` (N,) around ``body`` (N, 33, 3) (cached in ``cache``)."""
    if cache.exists():
        with np.load(cache) as data:
            return ViewHands(**{k: data[k] for k in data.files})
    count = len(frames)
    out = ViewHands(np.zeros((count, 2, 21, 3), np.float32), np.zeros((count, 2, 21, 3), np.float32),
                    np.zeros((count, 2), np.float32), np.zeros((count, 2), bool), np.zeros((count, 2), bool),
                    np.zeros(count))
    rows = {int(f): i for i, f in enumerate(frames)}
    log.info("hands on %s (crop %.1f)", video.name, config.crop_scale)
    with HandLandmarker() as model:
        for index, rgb in videos.iter_frames(str(video), int(frames.min()), int(frames.max()) + 1):
            row = rows.get(index)
            if row is None:
                continue
            tick = time.process_time()
            for slot, side in enumerate(HAND_SIDES):
                roi = hand_roi(body[row], side, config)
                if roi is None:
                    continue
                out.wrist_seen[row, slot] = True
                sighting = model.detect(rgb, roi)
                if sighting is not None:
                    out.image[row, slot], out.world[row, slot] = sighting.image, sighting.world
                    out.presence[row, slot] = sighting.presence
                    out.owned[row, slot] = belongs_to_body(sighting.image, body[row], side, roi, config)
            out.seconds[row] = time.process_time() - tick
    np.savez_compressed(cache, **vars(out))
    return out


def with_retries(looks: Sequence[ViewHands], config: HandConfig) -> ViewHands:
    """The hands a capture keeps when it looks again in the next crop where one was not kept (``looks``: one per
    crop of ``config.crop_scales``, in order); the seconds of a second look count for the hands it was made for."""
    out = looks[0]
    for later in looks[1:]:
        kept = out.kept(config)
        again = ~kept & later.kept(config)
        arrays = {}
        for key in ("image", "world", "presence", "owned"):
            merged = np.array(getattr(out, key))
            merged[again] = getattr(later, key)[again]
            arrays[key] = merged
        missed = (~kept & out.wrist_seen).sum(-1) / np.maximum(out.wrist_seen.sum(-1), 1)
        out = ViewHands(**arrays, wrist_seen=out.wrist_seen, seconds=out.seconds + missed * later.seconds)
    return out


def detect_looks(video: Path, frames: np.ndarray, body: np.ndarray, config: HandConfig, folder: Path,
                 stem: str) -> ViewHands:
    """:func:`detect_view` in each crop of ``config`` (cached as ``folder/stem.hands<scale>.npz``), then
    :func:`with_retries`."""
    looks = [detect_view(video, frames, body, replace(config, crop_scale=scale), folder / f"{stem}.hands{scale:g}.npz")
             for scale in config.crop_scales]
    return with_retries(looks, config)


def reference_angles(hands: Sequence[ViewHands], cameras, view: int) -> np.ndarray:
    """(N, 2, 15) joint angles of the hands triangulated from every view but ``view`` (NaN where < 2 views saw it
    at :data:`REFERENCE_PRESENCE`)."""
    others = [v for v in range(len(hands)) if v != view]
    out = np.full(hands[0].presence.shape + (15,), np.nan)
    for slot in range(2):
        uv = np.stack([hands[v].image[:, slot, :, :2] for v in others])                       # (3, N, 21, 2)
        seen = np.stack([hands[v].owned[:, slot] & (hands[v].presence[:, slot] >= REFERENCE_PRESENCE)
                         for v in others])                                                   # (3, N)
        conf = np.repeat(seen[..., None].astype(float), 21, axis=-1)
        tri = triangulate(uv, conf, [cameras[v] for v in others])
        enough = seen.sum(0) >= 2
        out[enough, slot] = joint_angles(tri.points[enough])
    return out


def rest_hands() -> np.ndarray:
    """(2, 21, 3) the built-in body's rest hands (left, right) as hand landmarks."""
    from server.body.model import default_body_model_path, load_body_model
    from server.hands.rest import rest_hand_landmarks

    model = load_body_model(default_body_model_path())
    return np.stack([rest_hand_landmarks(model, side) for side in HAND_SIDES])


def fitted_angles(view: ViewHands, config: HandConfig, rests: np.ndarray, fps: float,
                  frames: np.ndarray) -> np.ndarray:
    """(N, 2, 15) joint angles of the fitted fingers as a capture makes them: :func:`server.hands.fit.fit_hands` on
    the kept hands of the frames a capture looks at (``frames`` (N,) divisible by :func:`hand_step`), every frame
    fitted."""
    from server.hands.fit import fit_hands, posed_hand

    looked = frames % hand_step(fps, config) == 0
    kept = view.kept(config) & looked[:, None]
    poses, _ = fit_hands(view.world, np.where(kept, view.presence, 0.0), rests, fps, looked=looked)
    return np.stack([joint_angles(posed_hand(poses[:, hand], rests[hand])) for hand in range(2)], axis=1)


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else float("nan")


def score_view(view: ViewHands, reference: np.ndarray, rests: np.ndarray, config: HandConfig,
               fps: float, frames: np.ndarray) -> Dict[str, float]:
    """Hands found (%); median joint-angle error (deg) on the frames with a kept hand and a reference: the model's
    own landmarks, the fitted fingers, a rest hand; the fitted fingers on frames the view missed (filled); ms/f."""
    kept = view.kept(config)
    found = 100.0 * kept.sum() / max(int(view.wrist_seen.sum()), 1)
    raw = joint_angles(view.world)                                                           # (N, 2, 15)
    fitted = fitted_angles(view, config, rests, fps, frames)
    rest = np.broadcast_to(joint_angles(rests)[None], reference.shape)
    both = kept[..., None] & np.isfinite(reference) & np.isfinite(raw)
    missed = ~kept[..., None] & view.wrist_seen[..., None] & np.isfinite(reference)
    return {"found": found, "seen": float(view.wrist_seen.sum()), "scored": float(both.any(-1).sum()),
            "error": _median(np.abs(raw - reference)[both]), "fit_error": _median(np.abs(fitted - reference)[both]),
            "rest_error": _median(np.abs(rest - reference)[both]),
            "filled_error": _median(np.abs(fitted - reference)[missed]),
            "filled_rest_error": _median(np.abs(rest - reference)[missed]), "filled": float(missed.any(-1).sum()),
            "ms": 1000.0 * float(view.seconds[view.wrist_seen.any(-1)].mean())}


def four_views(folder: Path, config: HandConfig) -> List[Dict[str, float]]:
    """Each view of the four-view clip in ``folder`` scored alone (see the module docs)."""
    cameras = load_cameras(folder)
    kps = consistent_keypoints(folder, cameras)
    hands = [detect_looks(folder / f"{cam}.mp4", kps.frame_indices, kps.keypoints[v], config, folder, cam)
             for v, cam in enumerate(CAMERAS)]
    rests = rest_hands()
    return [score_view(hands[v], reference_angles(hands, cameras, v), rests, config, kps.fps, kps.frame_indices)
            for v in range(len(CAMERAS))]


def single_view(video: Path, config: HandConfig) -> Dict[str, float]:
    """Hands found on a single clip (its cached BlazePose keypoints, ``scripts/benchmark_real.py``'s)."""
    from benchmark_real import detect_cached

    kps = load_keypoints(str(detect_cached([video], video.with_suffix(".keypoints.npz"))))
    hands = detect_looks(video, kps.frame_indices, kps.keypoints[0], config, video.parent, video.stem)
    kept = hands.kept(config)
    return {"found": 100.0 * kept.sum() / max(int(hands.wrist_seen.sum()), 1), "seen": float(hands.wrist_seen.sum()),
            "ms": 1000.0 * float(hands.seconds[hands.wrist_seen.any(-1)].mean())}


def capture_cost(video: Path, rounds: int) -> Dict[str, float]:
    """Whole captures of ``video`` without and with the hands, one after the other ``rounds`` times: the added wall
    milliseconds per frame (median of the rounds' differences) and the detectors' own milliseconds per frame at the
    hands (all detectors together)."""
    import tempfile

    from server.jobs.capture import CaptureRequest, run_capture
    from server.options import CaptureOptions

    added, own, frames = [], [], 1
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            walls = {}
            for hands in (False, True):
                request = CaptureRequest(video=str(video), output=str(Path(tmp) / f"{index}_{hands}.npz"),
                                         options=CaptureOptions(hands=hands))
                tick = time.perf_counter()
                summary = run_capture(request, lambda *a: None, lambda: False)
                walls[hands] = time.perf_counter() - tick
                frames = summary.processed
                if hands:
                    own.append(1000.0 * summary.timings["hands"] / frames)
            added.append(1000.0 * (walls[True] - walls[False]) / frames)
            log.info("round %d: %.1f s without, %.1f s with the hands", index + 1, walls[False], walls[True])
    return {"added_ms": float(np.median(added)), "added_spread": float(np.ptp(added)),
            "detector_ms": float(np.median(own)), "frames": float(frames)}


def _row(name: str, figures: Dict[str, float]) -> str:
    text = f"{name:<24} found {figures['found']:5.1f}% of {figures['seen']:4.0f}"
    if "error" in figures:
        text += (f" | on {figures['scored']:3.0f} frames: landmarks {figures['error']:4.1f}, fitted "
                 f"{figures['fit_error']:4.1f}, rest hand {figures['rest_error']:4.1f} deg | filled on "
                 f"{figures['filled']:3.0f}: {figures['filled_error']:4.1f} (rest {figures['filled_rest_error']:4.1f})")
    return text + f" | {figures['ms']:4.1f} ms/f"


def _table(title: str, rows: List[Dict[str, float]]) -> None:
    print(title)
    for cam, figures in zip(CAMERAS, rows):
        print("  " + _row(cam, figures))
    mean = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
    print("  " + _row("mean of the views", mean))


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--multiview", type=Path, required=True, help="Pose2Sim single-person demo folder")
    parser.add_argument("--sample", type=Path, required=True, help="the Sports2D demo clip")
    parser.add_argument("--tuning", type=Path, help="Pose2Sim multi-person demo folder: print the tuning grid")
    parser.add_argument("--cost-rounds", type=int, default=3, help="whole Sports2D captures without and with the "
                        "hands, one after the other, this many times (0: skip)")
    args = parser.parse_args(argv)
    config = HandConfig()
    if args.tuning:
        for scale in TUNING_SCALES:
            for presence in TUNING_PRESENCE:
                _table(f"tuning clip, crop {scale:g} x wrist-knuckles, presence >= {presence:g}",
                       four_views(args.tuning, replace(config, crop_scale=scale, min_presence=presence,
                                                       retry_crop_scale=0.0)))
        for retry in TUNING_SCALES:
            if retry != config.crop_scale:
                _table(f"tuning clip, crop {config.crop_scale:g}, a hand not kept looked for again in a crop of "
                       f"{retry:g}", four_views(args.tuning, replace(config, retry_crop_scale=retry)))
    print(f"hands stage: crop {config.crop_scale:g} x wrist-knuckles (again at {config.retry_crop_scale:g} for a hand "
          f"not kept), presence >= {config.min_presence:g}")
    _table("Pose2Sim single-person demo, each view alone against the other three views' hands:",
           four_views(args.multiview, config))
    print("  " + _row("Sports2D demo", single_view(args.sample, config)))
    if args.cost_rounds > 0:
        cost = capture_cost(args.sample, args.cost_rounds)
        print(f"whole capture of the Sports2D demo ({cost['frames']:.0f} frames, {args.cost_rounds} rounds): the "
              f"hands add {cost['added_ms']:.1f} ms per frame (wall, median; rounds spread {cost['added_spread']:.1f}"
              f"), the detectors spend {cost['detector_ms']:.1f} ms per frame at them (all detectors together)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
