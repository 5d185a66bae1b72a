"""Hypotheses benchmark: do K Diff-HMR samples spread where the footage is ambiguous and agree where it is clear?

    .venv/bin/python scripts/benchmark_hypotheses.py [--clips 10] [--frames 120] [--k 5] [--seed 0] [--threads 1]
                                                     [--model default|PATH] [--json OUT]

The clips, bodies and cameras are the held-out video benchmark's (:mod:`benchmark_heldout`: subjects no network
trained on), seen through its held-out observation model only (:mod:`heldout_noise`, never used to pick a
setting), whose occlusion episodes give each frame a known per-limb occlusion weight in [0, 1]. A frame is
"occluded" when some limb's weight is above 0.5 and "clear" when every limb's weight is below 0.05.

Each row runs the capture's own path (:func:`server.refine.pipeline.run_pipeline` with ``hypotheses=K``) and
scores, per frame, the PA-MPJPE (24 joints, mm) of each of the K hypotheses: the mean of the K, the best of the K
(an oracle pick: what the set offers an animator choosing by eye), and their ratio, on occluded and on clear frames;
with the spread the capture reports (``ambiguity``, mm) on the same frames and the rank correlation of that spread
with the refined estimate's own error (does a large spread flag a wrong frame?). Rows: the capture's hypotheses
(the per-frame prior, or with ``--model PATH`` the dual motion model's whole-clip samples), and the same loop with
the networks' noise estimates held at 0 (what the random start and the guidance alone give).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import json
import logging
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark_heldout import (DEFAULT_DATASET, DRAWN, SEED_BASE, NoNetworkModels, load_models,  # noqa: E402
                               pick_windows, val_clips, views_of, without_network)
from server.fitting.state import Observations, posed_body  # noqa: E402
from server.refine.metrics import pa_mpjpe  # noqa: E402
from server.refine.pipeline import Models, PipelineOutput, PipelineSettings, run_pipeline  # noqa: E402

log = logging.getLogger("benchmark_hypotheses")
OCCLUDED, CLEAR = 0.5, 0.05          # a limb's occlusion weight above which a frame is occluded / below which clear
Row = Callable[[Observations], PipelineOutput]


def frame_masks(occlusion: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-limb occlusion weights (4, T) -> boolean (T,) masks of the 'occluded' and 'clear' frames."""
    worst = occlusion.max(0)
    return {"occluded": worst > OCCLUDED, "clear": worst < CLEAR}


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two (M,) samples (ties broken by order)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def scores(skinning, truth, out: PipelineOutput) -> Dict[str, np.ndarray]:
    """One clip -> per frame: each hypothesis' PA-MPJPE (K, T), the estimate's (T,), the spread (T,), in mm."""
    est = out.estimate
    k, n = out.hypotheses.shape[:2]
    with torch.no_grad():
        gt, _ = posed_body(skinning, truth.x0, truth.betas, truth.transl)
        pred, _ = posed_body(skinning, est.x, est.betas, est.transl)
        hyp, _ = posed_body(skinning, out.hypotheses.reshape(k * n, -1), est.betas.repeat(k, 1),
                            est.transl.repeat(k, 1))
        per = pa_mpjpe(hyp, gt.repeat(k, 1, 1)).numpy().reshape(k, n)
        return {"hypotheses": per, "estimate": pa_mpjpe(pred, gt).numpy(), "spread": 1000 * out.spread.numpy()}


def summarise(per_clip: List[Dict[str, np.ndarray]], masks: List[Dict[str, np.ndarray]]) -> Dict[str, Dict[str, float]]:
    """Pooled figures per frame set ('occluded', 'clear', 'all')."""
    out = {}
    for name in ("occluded", "clear", "all"):
        sel = [m[name] if name != "all" else np.ones_like(m["clear"]) for m in masks]
        hyp = np.concatenate([s["hypotheses"][:, m] for s, m in zip(per_clip, sel)], axis=1)
        est = np.concatenate([s["estimate"][m] for s, m in zip(per_clip, sel)])
        spread = np.concatenate([s["spread"][m] for s, m in zip(per_clip, sel)])
        if hyp.shape[1] == 0:
            continue
        mean, best = float(hyp.mean()), float(hyp.min(0).mean())
        out[name] = {"frames": int(hyp.shape[1]), "estimate": float(est.mean()), "mean_of_k": mean,
                     "best_of_k": best, "best_below_mean_pct": 100 * (1 - best / mean),
                     "spread_mm": float(spread.mean()), "spread_error_rank_corr": rank_correlation(spread, est)}
    return out


def rows_for(models: Models, k: int, dual: bool) -> Dict[str, Row]:
    """Row name -> Observations -> the capture's output with K hypotheses."""
    settings = PipelineSettings(hypotheses=k, dual=dual)
    prior = "dual motion model" if dual else "per-frame prior"
    run = lambda m: (lambda obs: run_pipeline(m, [obs], settings))  # noqa: E731
    return {f"hypotheses ({prior})": run(models),
            "networks removed": without_network(lambda obs: run_pipeline(NoNetworkModels(models), [obs], settings))}


def print_table(title: str, table: Dict[str, Dict[str, Dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'':28s}{'frames':>8s}{'estimate':>10s}{'mean of K':>11s}{'best of K':>11s}{'best<mean':>11s}"
          f"{'spread':>9s}{'rank corr':>11s}")
    for row, sets in table.items():
        for name, f in sets.items():
            print(f"{row[:18] + ' ' + name:28s}{f['frames']:8d}{f['estimate']:10.1f}{f['mean_of_k']:11.1f}"
                  f"{f['best_of_k']:11.1f}{f['best_below_mean_pct']:10.1f}%{f['spread_mm']:9.1f}"
                  f"{f['spread_error_rank_corr']:11.2f}")


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="default", help="'default' or the path of a dual motion checkpoint")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = load_models(args.model)
    val, names = val_clips(args.dataset)
    gens = {k: torch.Generator().manual_seed(SEED_BASE + args.seed + i) for i, k in
            enumerate(("geometry", "training", "heldout"))}
    windows = pick_windows(val, names, args.clips, args.frames, gens["geometry"])
    clips = [(w, views_of(models.skinning, val, w, args.frames, gens)) for w in windows]
    masks = [frame_masks(np.asarray(w["occlusion"])) for w, _ in clips]
    figures: Dict[str, object] = {"settings": {**vars(args), "dataset": str(args.dataset), "json": str(args.json),
                                               "torch": torch.__version__},
                                  "clips": [{k: v for k, v in w.items() if k not in DRAWN} for w, _ in clips]}
    t0 = time.perf_counter()
    table = {}
    for name, row in rows_for(models, args.k, args.model != "default").items():
        per_clip = [scores(models.skinning, views["heldout"][0], row(views["heldout"][1])) for _, views in clips]
        table[name] = summarise(per_clip, masks)
        log.info("%s: %s", name, table[name])
    figures["table"], figures["seconds"] = table, time.perf_counter() - t0
    print_table(f"Held-out observation model, {len(clips)} held-out clips x {args.frames} frames, K = {args.k} "
                f"(PA-MPJPE mm; spread mm)", table)
    print(f"\n{figures['seconds']:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
