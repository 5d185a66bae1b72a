"""BlazePose's noise measured against the Pose2Sim clip's triangulated reference (numpy only).

For each view: the residual between the detected 2D landmark and the reference reprojected into that view, in units
of the person's bounding-box height (the reprojected reference's 33 landmarks, per frame), over the landmarks the
detector returned (frames where it found nobody are left out):

- per landmark group (face 0-10, torso = shoulders + hips, arms 13-22, legs 25-32): ``rms``; ``std`` about each
  landmark's own mean and ``bias`` (RMS of those means: a systematic offset, partly the reference's own, since it is
  triangulated from the same detector); ``robust_std`` (1.4826 MAD); the temporal autocorrelation of the
  mean-removed residual at :data:`LAGS` frames; ``outliers`` (share with a residual > :data:`OUTLIER` of the height);
- left/right swaps per limb (arm: elbow + wrist, leg: knee + ankle): a frame where a side's detected landmarks lie
  nearer the other side's reprojection; frames where the two sides' reprojections are within :data:`AMBIGUOUS` of
  the height of each other (crossing in the image) are not counted; runs = consecutive swapped frames;
- confidence calibration: the median residual in bins of the detector's visibility (:data:`VISIBILITY_BINS`);
- BlazePose's world landmarks (metric, hip-centred): per frame a similarity (rotation, translation, scale)
  alignment onto the reference's 33 landmarks, then the residual's std / autocorrelation per group (metres), and the
  scale error (``size_ratio``: BlazePose's body size over the reference's = 1 / the alignment's scale).
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from pose2sim_reference import Reference, box_heights, reprojected
from server.fitting.calibration import CameraCalibration
from server.detection.keypoints_file import KeypointSet

GROUPS: Dict[str, Tuple[int, ...]] = {"face": tuple(range(11)), "torso": (11, 12, 23, 24),
                                      "arms": tuple(range(13, 23)), "legs": tuple(range(25, 33))}
LAGS = (1, 2, 5, 10, 30)
OUTLIER = 0.10
AMBIGUOUS = 0.05
SWAP_LIMBS: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]] = {"arm": ((13, 15), (14, 16)),
                                                                  "leg": ((25, 27), (26, 28))}
VISIBILITY_BINS = (0.0, 0.3, 0.5, 0.7, 0.9, 1.0001)


def on_grid(values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Rows (N, ...) of video ``frames`` (N,) -> (frames.max() - frames.min() + 1, ...) with NaN rows for gaps."""
    grid = np.full((int(frames.max() - frames.min()) + 1,) + values.shape[1:], np.nan)
    grid[frames - frames.min()] = values
    return grid


def autocorrelation(series: np.ndarray, lags: Sequence[int] = LAGS) -> Dict[str, float]:
    """series (T, S) (NaN = missing) -> {lag: Pearson correlation of r_t and r_{t+lag}, pooled over the S series
    after removing each series' mean}."""
    centred = series - np.nanmean(series, 0, keepdims=True)
    out = {}
    for lag in lags:
        a, b = centred[:-lag].ravel(), centred[lag:].ravel()
        ok = np.isfinite(a) & np.isfinite(b)
        denom = np.sqrt((a[ok] ** 2).sum() * (b[ok] ** 2).sum())
        out[str(lag)] = float((a[ok] * b[ok]).sum() / denom) if ok.sum() > 2 and denom > 0 else float("nan")
    return out


def group_stats(residual: np.ndarray, frames: np.ndarray) -> Dict[str, Dict[str, object]]:
    """residual (N, 33, C) (NaN = not counted) -> per group: rms, std, bias, robust_std, outliers, autocorrelation."""
    out = {}
    for name, index in GROUPS.items():
        r = residual[:, index]                                          # (N, G, C)
        mean = np.nanmean(r, 0, keepdims=True)
        flat = r[np.isfinite(r)]
        norm = np.linalg.norm(r, axis=-1)
        out[name] = {"rms": float(np.sqrt(np.nanmean(r ** 2))), "std": float(np.sqrt(np.nanmean((r - mean) ** 2))),
                     "bias": float(np.sqrt(np.nanmean(mean ** 2))),
                     "robust_std": float(1.4826 * np.median(np.abs(flat - np.median(flat)))),
                     "outliers": float(np.nanmean(norm[np.isfinite(norm)] > OUTLIER)),
                     "autocorrelation": autocorrelation(on_grid(r.reshape(len(r), -1), frames))}
    return out


def runs(mask: np.ndarray) -> List[int]:
    """(T,) bool -> the lengths of its runs of True."""
    padded = np.r_[False, mask, False].astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return (edges[1::2] - edges[::2]).tolist()


def swap_stats(image: np.ndarray, proj: np.ndarray, heights: np.ndarray, frames: np.ndarray) -> Dict[str, object]:
    """image (N, 33, 2) detections (NaN = missing), proj (N, 33, 2) the reference reprojected, heights (N,) ->
    per limb: share of the unambiguous frames with a side swapped, the swapped runs' lengths (frames)."""
    out = {}
    for limb, (left, right) in SWAP_LIMBS.items():
        def dist(det: Tuple[int, ...], ref: Tuple[int, ...]) -> np.ndarray:
            return np.linalg.norm(image[:, det] - proj[:, ref], axis=-1).mean(-1) / heights
        apart = np.linalg.norm(proj[:, left] - proj[:, right], axis=-1).mean(-1) / heights
        counted = (apart >= AMBIGUOUS) & np.isfinite(dist(left, left)) & np.isfinite(dist(right, right))
        swapped = counted & ((dist(left, right) < dist(left, left)) | (dist(right, left) < dist(right, right)))
        grid = on_grid(swapped.astype(float), frames) == 1.0
        lengths = runs(grid)
        out[limb] = {"share": float(swapped.sum() / max(counted.sum(), 1)), "frames_counted": int(counted.sum()),
                     "runs": len(lengths), "run_lengths": lengths}
    return out


def visibility_stats(norm: np.ndarray, visibility: np.ndarray) -> Dict[str, Dict[str, float]]:
    """Residual norms (N, 33) and the detector's visibility (N, 33) -> per bin: median residual and count."""
    out = {}
    for lo, hi in zip(VISIBILITY_BINS[:-1], VISIBILITY_BINS[1:]):
        sel = (visibility >= lo) & (visibility < hi) & np.isfinite(norm)
        label = f"{lo:.1f}-{min(hi, 1.0):.1f}"
        out[label] = {"median": float(np.median(norm[sel])) if sel.any() else float("nan"), "count": int(sel.sum())}
    return out


def similarity_align(source: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per frame Umeyama (rotation, translation, scale; no reflection): source, target (N, L, 3), NaN-free ->
    aligned source (N, L, 3), scale (N,)."""
    ms, mt = source.mean(1, keepdims=True), target.mean(1, keepdims=True)
    s0, t0 = source - ms, target - mt
    u, sing, vh = np.linalg.svd(np.einsum("nli,nlj->nij", t0, s0))
    fix = np.ones_like(sing)
    fix[:, 2] = np.sign(np.linalg.det(u @ vh))
    rot = u @ (fix[:, :, None] * vh)
    scale = (sing * fix).sum(-1) / np.maximum((s0 ** 2).sum((1, 2)), 1e-12)
    return scale[:, None, None] * np.einsum("nij,nlj->nli", rot, s0) + mt, scale


def world_stats(world: np.ndarray, ref: Reference, seen: np.ndarray) -> Dict[str, object]:
    """BlazePose world landmarks (N, 33, 3) of one view, the frames it saw the person (N,) -> metres."""
    rows = seen & np.isfinite(ref.points).all((-1, -2))
    residual = np.full(world.shape, np.nan)
    aligned, scale = similarity_align(world[rows], ref.points[rows])
    residual[rows] = aligned - ref.points[rows]
    size = 1.0 / scale
    groups = {name: {k: v for k, v in stats.items() if k != "outliers"}
              for name, stats in group_stats(residual, ref.frame_indices).items()}
    spread = {"median": float(np.median(size)), "std": float(np.std(size)), "p10": float(np.percentile(size, 10)),
              "p90": float(np.percentile(size, 90))}
    return {"groups": groups, "size_ratio": spread}


def view_stats(kps: KeypointSet, ref: Reference, camera: CameraCalibration, view: int) -> Dict[str, object]:
    """All statistics of one view (see the module docstring)."""
    proj = reprojected(ref.points, camera)
    heights = box_heights(proj)
    detected = kps.keypoints[view, ..., 2] > 0
    image = np.where(detected[..., None], kps.keypoints[view, ..., :2], np.nan)
    residual = (image - proj) / heights[:, None, None]
    seen = detected.sum(-1) >= 6
    return {"box_height_px": float(np.nanmedian(heights)), "groups": group_stats(residual, ref.frame_indices),
            "swaps": swap_stats(image, proj, heights, ref.frame_indices),
            "visibility": visibility_stats(np.linalg.norm(residual, axis=-1), kps.keypoints[view, ..., 2]),
            "world": world_stats(kps.world[view], ref, seen)}


def noise_statistics(kps: KeypointSet, ref: Reference, cameras: Sequence[CameraCalibration]) -> Dict[str, object]:
    """The detector-noise statistics of every view, with the frame rate and the definitions' constants."""
    return {"fps": ref.fps, "frames": int(len(ref.frame_indices)), "lags": list(LAGS), "outlier_threshold": OUTLIER,
            "units": {"image": "fraction of the person's box height", "world": "metres"},
            "views": {cam.name: view_stats(kps, ref, cam, v) for v, cam in enumerate(cameras)}}


def _mean_over_views(stats: Dict[str, object], *keys: str) -> float:
    values = []
    for view in stats["views"].values():
        value = view
        for key in keys:
            value = value[key]
        values.append(value)
    return float(np.nanmean(values))


def print_noise(stats: Dict[str, object]) -> None:
    """A short summary: means over the views (image residual in % of the box height, world in mm)."""
    lags = [str(lag) for lag in stats["lags"]]
    print(f"\nBlazePose noise against the reference ({stats['frames']} frames at {stats['fps']:.0f} fps; mean of "
          f"{len(stats['views'])} views; image in % of the box height, world landmarks in mm)")
    print(f"{'group':<7}{'rms%':>7}{'std%':>7}{'bias%':>7}{'robust%':>9}{'outl%':>7}  autocorr lag "
          + " ".join(f"{lag:>5}" for lag in lags) + f"{'world std mm':>14}  world ac " + " ".join(lags))
    for group in GROUPS:
        img = [100 * _mean_over_views(stats, "groups", group, k) for k in ("rms", "std", "bias", "robust_std",
                                                                         "outliers")]
        ac = [_mean_over_views(stats, "groups", group, "autocorrelation", lag) for lag in lags]
        wac = [_mean_over_views(stats, "world", "groups", group, "autocorrelation", lag) for lag in lags]
        print(f"{group:<7}" + "".join(f"{v:>7.2f}" for v in img[:3]) + f"{img[3]:>9.2f}{img[4]:>7.2f}"
              + "              " + " ".join(f"{v:>5.2f}" for v in ac)
              + f"{1000 * _mean_over_views(stats, 'world', 'groups', group, 'std'):>14.1f}  "
              + " ".join(f"{v:.2f}" for v in wac))
    bins = list(next(iter(stats["views"].values()))["visibility"])
    print("median residual % by visibility " + ", ".join(
        f"{b}: {100 * _mean_over_views(stats, 'visibility', b, 'median'):.2f}" for b in bins))
    for name, view in stats["views"].items():
        swaps = ", ".join(f"{limb} {100 * s['share']:.1f}% ({s['runs']} runs, longest "
                          f"{max(s['run_lengths'], default=0)})" for limb, s in view["swaps"].items())
        size = view["world"]["size_ratio"]
        print(f"{name}: box {view['box_height_px']:.0f} px; left/right swaps {swaps}; world size ratio "
              f"{size['median']:.3f} (p10 {size['p10']:.3f}, p90 {size['p90']:.3f})")
