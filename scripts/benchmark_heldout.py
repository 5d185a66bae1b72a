"""Held-out video benchmark: held-out subjects AND an observation model no training or setting saw.

    .venv/bin/python scripts/benchmark_heldout.py [--clips 20] [--frames 240] [--seed 0] [--threads 1]
                                                  [--model default|dual|PATH] [--json OUT] [--check]

Clips: ``--clips`` windows of ``--frames`` frames from the pose dataset's val split (subjects no network trained
on), spread over three groups by the stored clip names: "idles" (reactidle_*), "dance" (salsa, indian) and
"acrobatics/sport" (the rest of val: CMU subject 90's jumps and cartwheels, subject 2's runs, jumps, punches,
swordplay). Each window is read at 30 fps, or resampled to 60 fps (half of them, and every one whose clip is too
short for 30 fps), with a random body shape and one random camera (static or tracking, as the temporal trainer's
:func:`server.train.clip_windows._window_camera`). The same windows, bodies and cameras are seen through two
observation models:

- ``training``: the temporal regressor's training family (``synthetic_views.observe`` with ``CLIP_VIEW`` or, for
  35%, the heavier per-frame ``ViewConfig``, then ``clip_noise.corrupt_clip``), as ``synthesize_window`` draws it;
- ``heldout``: :mod:`heldout_noise` (a different generative family, fitted on the Pose2Sim error statistics).

Rows run the capture's own path (:func:`server.refine.pipeline.run_pipeline` on the Observations): the
regression alone (the temporal regressor, or with ``--model dual|PATH`` the dual model's regression mode),
+ ScoreHMR video (the clip prior, 2 outer iterations: the default), + ScoreHMR video with 6 outer iterations, and
the same default loop with every prior's noise estimate held at 0 (the ablation, ``scripts/ablation.py``; the
start is still the network's). Metrics per group and overall: MPJPE, PA-MPJPE (24 joints, mm), acceleration error
(mm/frame^2), seconds per frame. ``--check`` instead measures the held-out noise on 2 clips at 60 fps and asserts
its statistics fall in the documented ranges. Seeds: :data:`heldout_noise.SEED_BASE` + ``--seed``.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import json
import logging
import sys
import time
from unittest import mock
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from ablation import NoPrior, ZeroDualPrior  # noqa: E402
from heldout_noise import SEED_BASE, corrupt_heldout, measure  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.fitting.state import Estimate, Observations, posed_body  # noqa: E402
from server.refine.metrics import accel_error, mpjpe, pa_mpjpe  # noqa: E402
from server.dual.dual_network import load_dual_motion  # noqa: E402
from server.refine import scorehmr  # noqa: E402
from server.refine.pipeline import Models, PipelineSettings, run_pipeline  # noqa: E402
from server.train.clip_noise import CLIP_VIEW, corrupt_clip  # noqa: E402
from server.train.clip_windows import HEAVY_FRAME_PROB, STATIC_PROB, ClipSet, _window_camera, read_window  # noqa: E402
from server.train.clip_windows import load_clip_sets  # noqa: E402
from server.train.pose_data import dataset_api  # noqa: E402
from server.train.synthetic_views import SyntheticViews, ViewConfig, observe  # noqa: E402

log = logging.getLogger("benchmark_heldout")
DEFAULT_DATASET = Path("~/.cache/blender_scorehmr/pose_dataset.npz").expanduser()
GROUPS = {"idles": 6, "dance": 7, "acrobatics/sport": 7}          # shares of the clips
FAMILIES = ("training", "heldout")
DRAWN = ("swap", "occlusion")      # what views_of adds to a window: the held-out noise's swap states, occlusion weights
CLEAN_VIEW = ViewConfig(pixel_noise=(0.0, 0.0), outlier_prob=0.0, drop_rate=(0.0, 0.0), drop_std=0.0,
                        low_conf_prob=0.0, occluded_limb_prob=0.0, swap_prob=0.0, world_noise=0.0,
                        world_depth_noise=0.0, world_scale=(1.0, 1.0))
Row = Callable[[Observations], Estimate]


def group_of(name: str) -> str:
    """A stored clip name ('source/clip') -> its motion group."""
    if name.startswith("reactidle"):
        return "idles"
    return "dance" if ("salsa" in name or "indian" in name) else "acrobatics/sport"


def val_clips(path: Path) -> Tuple[ClipSet, List[str]]:
    """-> the val clip set and each of its clips' stored name."""
    _, val = load_clip_sets(path)
    data = dataset_api()[0](path)
    keep = np.asarray(data["split"]).astype(str) == "val"
    ids = np.asarray(data["clip_id"])[keep][val.starts.numpy()]
    return val, [str(np.asarray(data["clip_names"])[i]) for i in ids]


def pick_windows(val: ClipSet, names: List[str], clips: int, frames: int, g: torch.Generator,
                 fps_choice: Tuple[float, ...] = (30.0, 60.0)) -> List[Dict[str, object]]:
    """``clips`` windows spread over the groups (round robin over each group's clips, stratified offsets)."""
    share = np.array(list(GROUPS.values()), float)
    counts = np.floor(clips * share / share.sum()).astype(int)
    counts[np.argsort(-(clips * share / share.sum() - counts))[:clips - counts.sum()]] += 1
    out = []
    for group, count in zip(GROUPS, counts):
        usable = [c for c, n in enumerate(names) if group_of(n) == group and int(val.lengths[c]) >= frames // 2]
        if not usable or count == 0:
            continue
        order = [usable[i] for i in torch.randperm(len(usable), generator=g).tolist()]
        chosen = [order[k % len(order)] for k in range(count)]
        for k, c in enumerate(chosen):
            length = int(val.lengths[c])
            fps = fps_choice[int(torch.randint(0, len(fps_choice), (1,), generator=g))]
            fps = 60.0 if length < frames else fps
            span = frames * 30.0 / fps
            j, m = chosen[:k].count(c), chosen.count(c)
            lo, hi = 0.5 * span, length - 1 - 0.5 * span
            centre = lo + (hi - lo) * (j + float(torch.rand(1, generator=g))) / m
            out.append({"group": group, "clip": names[c], "frame": int(val.starts[c]) + int(round(centre)),
                        "fps": fps})
    return out


def views_of(skinning, val: ClipSet, window: Dict[str, object], frames: int, gens: Dict[str, torch.Generator],
             body: Optional[torch.Tensor] = None) -> Dict[str, Tuple[SyntheticViews, Observations]]:
    """One window, one body (``body`` betas (B,), else drawn) and camera -> per observation model (the views, the
    Observations); also 'clean'."""
    g = gens["geometry"]
    rot, transl = read_window(val, int(window["frame"]), frames, 30.0 / float(window["fps"]), False)
    betas = (torch.randn(1, skinning.num_betas, generator=g) * CLEAN_VIEW.beta_std).clamp(-3.0, 3.0) \
        if body is None else body.reshape(1, -1).float()
    betas = betas.expand(frames, -1).clone()
    static = float(torch.rand(1, generator=g)) < STATIC_PROB
    camera, posed = _window_camera(skinning, rot, transl, betas, static, ViewConfig(), g)
    clean = observe(skinning, rot, betas, camera, CLEAN_VIEW, g, posed)
    ga = gens["training"]
    view = ViewConfig() if float(torch.rand(1, generator=ga)) < HEAVY_FRAME_PROB else CLIP_VIEW
    v = observe(skinning, rot, betas, camera, view, ga, posed)
    train_kp, train_world = corrupt_clip(v.keypoints, v.world, ga)
    held_kp, held_world, info = corrupt_heldout(clean.keypoints, clean.world, float(window["fps"]), gens["heldout"])
    window["swap"], window["occlusion"] = info["swap"], info["occlusion"]
    out = {}
    for family, (kp, world) in (("training", (train_kp, train_world)), ("heldout", (held_kp, held_world)),
                                ("clean", (clean.keypoints, clean.world))):
        obs = Observations(keypoints=kp, focal=clean.focal, centre=0.5 * clean.image_size,
                           image_size=clean.image_size, world=world, fps=float(window["fps"]))
        out[family] = (clean, obs)
    return out


class NoNetworkModels(Models):
    """The capture's models with every prior's noise estimate held at 0 (the ablation): the per-frame prior, the
    motion prior's windows or the dual model's clip prior (the dual model still gives the start)."""

    def __init__(self, base: Models) -> None:
        super().__init__(base.body, base.is_builtin)
        self.skinning, self._base = base.skinning, base
        self._dual, self._dual_missing = base._dual, base._dual_missing

    def temporal_regressor(self):
        return self._base.temporal_regressor()

    def denoiser(self):
        return NoPrior(self._base.denoiser())

    def dual(self):
        return self._base.dual()

    def motion_prior(self):
        motion = self._base.motion_prior()
        return None if motion is None else NoPrior(motion)


def without_network(row: "Row") -> "Row":
    """A row run with the dual model's clip prior replaced by :class:`ZeroDualPrior`."""
    def run(obs: Observations) -> Estimate:
        with mock.patch.object(scorehmr, "DualPrior", ZeroDualPrior):
            return row(obs)
    return run


def load_models(model: str) -> Models:
    """``default``: what the capture uses (the temporal regressor and the motion prior); ``dual``: the dual motion
    model at its default place (``build.py train-dual``); a path: that dual motion checkpoint."""
    models = Models(load_body_model(default_body_model_path()), True)
    if model not in ("default", "dual"):
        models._dual = load_dual_motion(model)
    return models


def model_rows(models: Models, dual: bool) -> Dict[str, Row]:
    """Row name -> Observations -> Estimate, through the capture's pipeline (``dual``: with the dual model)."""
    prior = "dual motion model" if dual else "motion prior"

    def pipeline(m: Models, settings: PipelineSettings) -> Row:
        return lambda obs: run_pipeline(m, [obs], replace(settings, dual=dual)).estimate
    return {"regression (the start)": pipeline(models, PipelineSettings(refine=False)),
            f"+ ScoreHMR video ({prior}, 2 it.)": pipeline(models, PipelineSettings()),
            "+ ScoreHMR video, 6 iterations": pipeline(models, PipelineSettings(iterations=6)),
            "+ ScoreHMR loop, networks removed": without_network(pipeline(NoNetworkModels(models),
                                                                          PipelineSettings()))}


def metrics(skinning, truth: SyntheticViews, est: Estimate) -> Dict[str, np.ndarray]:
    """Per-frame MPJPE, PA-MPJPE and (T - 2) acceleration errors of one clip (mm, mm/frame^2)."""
    with torch.no_grad():
        gt, _ = posed_body(skinning, truth.x0, truth.betas, truth.transl)
        pred, _ = posed_body(skinning, est.x, est.betas, est.transl)
        return {"mpjpe": mpjpe(pred, gt).numpy(), "pa_mpjpe": pa_mpjpe(pred, gt).numpy(),
                "accel": accel_error(pred, gt).numpy()}


def run(skinning, rows: Dict[str, Row], clips: List[Tuple[Dict[str, object], Dict[str, tuple]]],
        family: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Every row on every clip of one observation model -> row -> group (and 'overall') -> metric means."""
    table = {}
    frames = sum(len(c[1][family][1]) for c in clips)
    for name, row in rows.items():
        row(clips[0][1][family][1].select(torch.arange(16)))                     # warm-up: not timed
        per: Dict[str, Dict[str, List[np.ndarray]]] = {}
        t0 = time.perf_counter()
        for window, views in clips:
            truth, obs = views[family]
            for key, value in metrics(skinning, truth, row(obs)).items():
                for group in (str(window["group"]), "overall"):
                    per.setdefault(group, {}).setdefault(key, []).append(value)
        seconds = time.perf_counter() - t0
        table[name] = {group: {k: float(np.mean(np.concatenate(v))) for k, v in m.items()}
                       for group, m in per.items()}
        table[name]["overall"]["seconds_per_frame"] = seconds / frames
        log.info("%s %s: %s", family, name, table[name]["overall"])
    return table


def print_table(title: str, table: Dict[str, Dict[str, Dict[str, float]]]) -> None:
    groups = [g for g in list(GROUPS) + ["overall"] if g in next(iter(table.values()))]
    print(f"\n{title}  (PA-MPJPE / MPJPE mm / accel mm/frame^2)")
    print(f"{'':40s}" + "".join(f"{g:>24s}" for g in groups) + f"{'s/frame':>10s}")
    for name, row in table.items():
        cells = "".join(f"{row[g]['pa_mpjpe']:>8.1f}/{row[g]['mpjpe']:>6.1f}/{row[g]['accel']:>6.2f}  "
                        for g in groups)
        print(f"{name:40s}{cells}{row['overall']['seconds_per_frame']:>10.4f}")


# Documented Pose2Sim ranges (docs/benchmarks.md) the held-out noise must reproduce; where two clips cannot pin a
# figure exactly the asserted range is the documented one widened as noted.
CHECKS = {
    "image robust std % (mean of groups)": (1.1, 1.3),
    "image lag-1 autocorrelation": (0.5, 0.8),
    "image lag-5 autocorrelation": (0.1, 0.35),
    "image lag-10 autocorrelation": (0.05, 0.35),        # documented 0.1-0.35 at 5-10 frames; lag 10 may dip lower
    "outliers > 10% of height, %": (0.8, 8.6),
    "confidence < 0.7, % of detections": (2.0, 10.0),   # documented 5%
    "median error at confidence < 0.7, %": (4.0, 8.0),  # documented 5-6%
    "median error at confidence >= 0.7, %": (1.3, 1.9),  # documented 1.5-1.7%
    "world face+torso std mm": (27.0, 48.0),
    "world limbs std mm": (43.0, 136.0),
    "world lag-1 autocorrelation": (0.66, 0.80),
    "world size ratio": (0.95, 1.05),
    "swap runs <= 13 frames, %": (80.0, 100.0),         # documented: runs up to 13 frames at 60 fps
}


def check(skinning, val: ClipSet, names: List[str], frames: int, seed: int) -> Dict[str, float]:
    """The held-out noise's statistics on 2 clips at 60 fps (pooled means), asserted against :data:`CHECKS`."""
    gens = {k: torch.Generator().manual_seed(SEED_BASE + 97 + seed + i) for i, k in
            enumerate(("geometry", "training", "heldout"))}
    stats = []
    for window in pick_windows(val, names, 2, frames, gens["geometry"], fps_choice=(60.0,)):
        views = views_of(skinning, val, window, frames, gens)
        clean, noisy = views["clean"][1], views["heldout"][1]
        stats.append(measure((clean.keypoints, clean.world), (noisy.keypoints, noisy.world), window["swap"]))
    img = lambda key, *sub: float(np.mean([np.mean([_dig(s["image"][g], key, *sub) for g in s["image"]])  # noqa
                                           for s in stats]))
    vis = lambda sel: float(np.nanmean([np.average([s["visibility"][b]["median"] for b in s["visibility"] if sel(b)],
                                                   weights=[s["visibility"][b]["count"] + 1e-9
                                                            for b in s["visibility"] if sel(b)]) for s in stats]))
    world = lambda groups, key, *sub: float(np.mean([_dig(s["world"][g], key, *sub) for s in stats for g in groups]))
    runs = [r for s in stats for r in s["swap_runs"]]
    measured = {
        "image robust std % (mean of groups)": 100 * img("robust_std"),
        "image lag-1 autocorrelation": img("autocorrelation", "1"),
        "image lag-5 autocorrelation": img("autocorrelation", "5"),
        "image lag-10 autocorrelation": img("autocorrelation", "10"),
        "outliers > 10% of height, %": 100 * img("outliers"),
        "confidence < 0.7, % of detections": 100 * float(np.mean([s["low_confidence_share"] for s in stats])),
        "median error at confidence < 0.7, %": 100 * vis(lambda b: float(b.split("-")[0]) < 0.7),
        "median error at confidence >= 0.7, %": 100 * vis(lambda b: float(b.split("-")[0]) >= 0.7),
        "world face+torso std mm": 1000 * world(("face", "torso"), "std"),
        "world limbs std mm": 1000 * world(("arms", "legs"), "std"),
        "world lag-1 autocorrelation": world(("face", "torso", "arms", "legs"), "autocorrelation", "1"),
        "world size ratio": float(np.mean([s["world_size_ratio"] for s in stats])),
        "swap runs <= 13 frames, %": 100 * float(np.mean([r <= 13 for r in runs])) if runs else 100.0,
    }
    print(f"\nHeld-out noise on 2 clips x {frames} frames at 60 fps; swap share "
          f"{100 * np.mean([s['swap_share'] for s in stats]):.1f}%, runs {runs}")
    for key, value in measured.items():
        lo, hi = CHECKS[key]
        print(f"{key:42s} {value:8.2f}   [{lo}, {hi}]  {'ok' if lo <= value <= hi else 'OUT OF RANGE'}")
    bad = [k for k, v in measured.items() if not CHECKS[k][0] <= v <= CHECKS[k][1]]
    assert not bad, f"held-out noise statistics out of the documented ranges: {bad}"
    return measured


def _dig(d: Dict[str, object], *keys: str) -> float:
    for k in keys:
        d = d[k]
    return float(d)


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="default",
                        help="'default' (the capture's temporal regressor and motion prior), 'dual' (the dual motion "
                             "model trained by build.py train-dual) or the path of a dual motion checkpoint")
    parser.add_argument("--families", default=",".join(FAMILIES), help="observation models to run")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--check", action="store_true", help="only check the held-out noise's statistics")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = load_models(args.model)
    val, names = val_clips(args.dataset)
    if args.check:
        check(models.skinning, val, names, args.frames, args.seed)
        return 0
    rows = model_rows(models, dual=args.model != "default")
    gens = {k: torch.Generator().manual_seed(SEED_BASE + args.seed + i) for i, k in
            enumerate(("geometry", "training", "heldout"))}
    windows = pick_windows(val, names, args.clips, args.frames, gens["geometry"])
    clips = [(w, views_of(models.skinning, val, w, args.frames, gens)) for w in windows]
    figures: Dict[str, object] = {"settings": {**vars(args), "dataset": str(args.dataset), "json": str(args.json),
                                               "torch": torch.__version__, "seed_base": SEED_BASE},
                                  "clips": [{k: v for k, v in w.items() if k not in DRAWN} for w in windows]}
    t0 = time.perf_counter()
    for family in args.families.split(","):
        figures[family] = run(models.skinning, rows, clips, family)
        print_table(f"{family} observation model: {len(clips)} held-out clips x {args.frames} frames, "
                    f"{args.threads} thread(s)", figures[family])
    figures["seconds"] = time.perf_counter() - t0
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
