"""Stature: how tall the captured body is, on the Pose2Sim clip and on held-out synthetic bodies.

    .venv/bin/python scripts/benchmark_stature.py [--multiview ~/.cache/blender_scorehmr/footage/pose2sim]
                                                  [--bodies 40] [--frames 120] [--seed 0]

Stature: the shaped rest mesh's height, top of the head to the soles (:func:`server.body.phenotype.stature`).
Every row decides the body's shape as the capture does (:func:`server.refine.pipeline.run_pipeline` without
refinement: the shape is chosen before it and refinement keeps it):

- ``regressor``: the temporal regressor's median betas, gender and muscle then at the mean body's (a single view's
  default; the table under it says why: what the regressor reads of each phenotype on the held-out bodies);
- ``detector's metric landmarks``: the body whose segments match BlazePose's metric (world) landmarks
  (:func:`server.body.shape_fit.fit_body_shape`, a user SMPL file's default);
- ``mean body``: no estimate (betas 0).

Pose2Sim (the single-person demo, the consistent four views of ``pose2sim_reference``; a clip no setting was chosen
on): the reference is the body fitted to the four calibrated views' triangulated landmarks (true metres), which a
calibrated multi-view capture now does itself; the four-view capture before did not (the regressor's median over
the views). Then each view alone, with its calibrated focal length and nothing else.

Held-out synthetic bodies: ``--bodies`` bodies drawn through the built-in body's phenotype map (phenotypes uniform in
the ranges its build sampled, a seed of their own), each moving through a window of a held-out subject's motion
(the pose dataset's val split) seen by one random camera through the held-out observation model
(``scripts/heldout_noise.py``, which no training or setting saw) - as ``benchmark_heldout.py`` does. The metric
landmarks there are the body's own plus that model's noise (no detector's size bias), so that row shows what metric
lengths give (a calibrated capture's case), not what BlazePose's monocular world landmarks give.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark_heldout import DEFAULT_DATASET, pick_windows, val_clips, views_of  # noqa: E402
from heldout_noise import SEED_BASE  # noqa: E402
from pose2sim_reference import CAMERAS, load_reference  # noqa: E402
from server.body.model import BodyModel, default_body_model_path, load_body_model  # noqa: E402
from server.body.phenotype import phenotype_of, stature  # noqa: E402
from server.body.shape_fit import fit_body_shape  # noqa: E402
from server.fitting.state import Observations  # noqa: E402
from server.refine.calibrated import calibrated_observations, extrinsics_of, triangulated_landmarks  # noqa: E402
from server.refine.from_keypoints import observations  # noqa: E402
from server.refine.pipeline import (Models, PipelineSettings, estimated_betas, initial_estimate,  # noqa: E402
                                    run_pipeline)

log = logging.getLogger("benchmark_stature")
TARGET_M = 0.04
BODY_SEED = 7   # the synthetic bodies' phenotypes (SEED_BASE + --seed draws the motion, camera and noise)
Row = Callable[[Models, Observations], np.ndarray]


def regressor_betas(models: Models, obs: Observations) -> np.ndarray:
    out = run_pipeline(models, [obs], PipelineSettings(refine=False))
    return out.estimate.betas[0].double().numpy()


def regressor_reading(models: Models, obs: Observations) -> np.ndarray:
    """The regressor's own betas (its median), before the unread phenotypes are set to the mean body's."""
    start, _ = initial_estimate(models, obs, PipelineSettings(refine=False))
    return estimated_betas(models, [start], [obs]).double().numpy()


def landmark_betas(models: Models, obs: Observations) -> np.ndarray:
    world = torch.cat([obs.world, obs.keypoints[..., 2:3]], -1).numpy()
    return fit_body_shape(models.body, world)


ROWS: Dict[str, Row] = {"regressor (default, one view)": regressor_betas,
                        "detector's metric landmarks": landmark_betas,
                        "mean body": lambda models, obs: np.zeros(10)}


def pose2sim(models: Models, folder: Path) -> Dict[str, object]:
    """The reference, the four-view capture before and after, each view alone per row (metres)."""
    cameras, kps, _ = load_reference(folder)
    views = [observations(kps, v) for v in range(len(cameras))]
    calibrated = [calibrated_observations(v, c) for v, c in zip(views, cameras)]
    metric = triangulated_landmarks(list(kps.keypoints), cameras)
    reference = stature(models.body, fit_body_shape(models.body, metric.numpy()))
    settings = PipelineSettings(refine=False, mode="multiview")
    extrinsics = [extrinsics_of(c) for c in cameras]
    before = run_pipeline(models, calibrated, settings, extrinsics=extrinsics).estimate.betas[0].double().numpy()
    after = run_pipeline(models, calibrated, settings, extrinsics=extrinsics,
                         metric=metric).estimate.betas[0].double().numpy()
    single = {row: [stature(models.body, fn(models, v)) for v in calibrated] for row, fn in ROWS.items()}
    return {"reference": reference, "four_views_before": stature(models.body, before),
            "four_views_after": stature(models.body, after), "single": single}


def synthetic_bodies(model: BodyModel, count: int, seed: int) -> np.ndarray:
    """(count, B) betas of bodies with phenotypes uniform in the ranges the body's build sampled."""
    pm = model.phenotype
    assert pm is not None, "the built-in body has a phenotype map"
    with np.load(default_body_model_path()) as data:
        ranges = json.loads(str(data["provenance"]))["phenotype_ranges_sampled"]
    rng = np.random.default_rng(seed)
    phenotypes = np.stack([rng.uniform(*ranges[label], size=count) for label in pm.labels], 1)
    return ((phenotypes - pm.mean) / pm.std) @ pm.to_betas.T


def synthetic(models: Models, dataset: Path, count: int, frames: int, seed: int) -> Dict[str, object]:
    """Per row the signed stature errors (metres) on ``count`` held-out bodies, and their true statures."""
    bodies = synthetic_bodies(models.body, count, BODY_SEED + seed)
    val, names = val_clips(dataset)
    gens = {k: torch.Generator().manual_seed(SEED_BASE + seed + i) for i, k in
            enumerate(("geometry", "training", "heldout"))}
    windows = pick_windows(val, names, count, frames, gens["geometry"])
    truth, errors, phenotypes = [], {row: [] for row in ROWS}, []
    pm = models.body.phenotype
    for betas, window in zip(bodies, windows):
        obs = views_of(models.skinning, val, window, frames, gens, torch.from_numpy(betas))["heldout"][1]
        truth.append(stature(models.body, betas))
        for row, fn in ROWS.items():
            errors[row].append(stature(models.body, fn(models, obs)) - truth[-1])
        phenotypes.append([phenotype_of(pm, betas), phenotype_of(pm, regressor_reading(models, obs))])
    return {"truth": truth, "errors": errors, "phenotypes": np.array(phenotypes).tolist(), "labels": pm.labels,
            "mean": pm.mean.tolist()}


def print_pose2sim(fig: Dict[str, object]) -> None:
    ref = float(fig["reference"])
    print(f"\nPose2Sim single-person demo: reference (four calibrated views' triangulated landmarks) {ref:.3f} m")
    print(f"  four-view calibrated capture: before {fig['four_views_before']:.3f} m "
          f"({100 * (fig['four_views_before'] - ref):+.1f} cm), after {fig['four_views_after']:.3f} m "
          f"({100 * (fig['four_views_after'] - ref):+.1f} cm)")
    print(f"  {'each view alone':<32}" + "".join(f"{cam:>9}" for cam in CAMERAS) + f"{'mean |e|':>10}")
    for row, values in fig["single"].items():
        errors = 100 * (np.array(values) - ref)
        print(f"  {row:<32}" + "".join(f"{e:>+8.1f} " for e in errors) + f"{np.abs(errors).mean():>9.1f}")
    print("  (cm; target: within 4 cm from each view)")


def print_synthetic(fig: Dict[str, object], count: int) -> None:
    truth = np.array(fig["truth"])
    print(f"\nHeld-out synthetic bodies: {count}, statures {truth.min():.2f}-{truth.max():.2f} m "
          f"(std {100 * truth.std():.1f} cm), held-out subjects' motion, held-out observation model")
    print(f"  {'row':<32}{'mean |e| cm':>12}{'median':>8}{'bias':>8}{'within 4 cm':>13}")
    for row, values in fig["errors"].items():
        e = np.array(values)
        print(f"  {row:<32}{100 * np.abs(e).mean():>12.1f}{100 * np.median(np.abs(e)):>8.1f}{100 * e.mean():>+8.1f}"
              f"{100 * (np.abs(e) <= TARGET_M).mean():>12.0f}%")
    both = np.array(fig["phenotypes"])                               # (bodies, 2: truth, reading, P)
    print("  what the regressor reads of each phenotype (Anny's 0..1): correlation with the truth, mean error, and "
          "the mean body's error")
    for i, label in enumerate(fig["labels"]):
        truth, read = both[:, 0, i], both[:, 1, i]
        print(f"    {label:<12} r {np.corrcoef(truth, read)[0, 1]:+.2f}   error {np.abs(read - truth).mean():.3f}   "
              f"mean body's {np.abs(fig['mean'][i] - truth).mean():.3f}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--multiview", type=Path, default=None, help="Pose2Sim single-person demo folder")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--bodies", type=int, default=40)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = Models(load_body_model(default_body_model_path()), True)
    figures: Dict[str, object] = {}
    if args.multiview is not None:
        figures["pose2sim"] = pose2sim(models, args.multiview)
        print_pose2sim(figures["pose2sim"])
    if args.bodies > 0:
        figures["synthetic"] = synthetic(models, args.dataset, args.bodies, args.frames, args.seed)
        print_synthetic(figures["synthetic"], args.bodies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
