"""Where the dual motion model helps: its one-step clean estimate per noise level, with and without the keypoint
condition and with the network removed, on held-out windows; the curve ScoreHMR's t* is read from.

    .venv/bin/python scripts/benchmark_dual.py [--model PATH] [--windows 32] [--seed 5] [--threads 1]
                                               [--plot docs/images/dual_t_curve.png] [--json OUT]

Windows: ``--windows`` synthetic windows of the val split (unseen subjects) made exactly as the model's training
windows are (:func:`server.train.dual_motion.make_batch`: random speed, body, camera, the TRAINING observation
model's detector errors); the held-out observation model of ``scripts/heldout_noise.py`` is never used here, so
nothing chosen from this curve has seen it. Each window's z-scored 6D poses are diffused to t (the same noise for
every row); rows: the one-step clean estimate of

- no network: ``z_t / sqrt(abar_t)`` (what the refinement's loop does with the noise estimate held at 0);
- unconditional: the model with its evidence withheld (cleanup's prior);
- conditional: the model with the window's keypoint evidence (the capture's prior);

and, as a horizontal line, the regression mode (t = T - 1 from the empty state: the capture's initial estimate).
Errors on the supervised middle frames: mean body-joint rotation error (degrees) and pelvis-centred MPJPE (mm,
24 joints, the true body shape).

How ScoreHMR's settings follow from it (:func:`choose_schedule`, nothing tuned on a benchmark), in MPJPE (what
the benchmarks score; the z-scored noise spreads over every rotation alike, so a rotation-error rule would pick a
far larger t*): the refinement inverts its start to t* and walks back guided. The start is the regression output,
whose error is E (the regression row). t* is the smallest level at which diffusing the TRUTH gives at least that
error with no network (the noise then covers the start's error, SDEdit's rule), so the walk back can move the
estimate as far as it is off. The keypoint guidance is applied only below t_guide, the lowest level from which
up the conditional model alone beats the no-network estimate by a clear margin (GUIDE_MARGIN): there the condition
carries the evidence and the guidance, computed on a poor clean estimate, would count it twice (Kynkaanniemi et
al. 2024: guidance in a limited interval).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.body.rot6d import x_to_rotmats  # noqa: E402
from server.dual.dual_network import load_dual_motion  # noqa: E402
from server.diffusion.schedule import q_sample  # noqa: E402
from server.train.clip_windows import load_clip_sets  # noqa: E402
from server.train.dual_motion import make_batch  # noqa: E402

log = logging.getLogger("benchmark_dual")
DEFAULT_DATASET = Path("~/.cache/blender_scorehmr/pose_dataset.npz").expanduser()
TIMESTEPS = (10, 25, 50, 75, 100, 125, 150, 175, 200, 250, 300, 400, 500, 600, 700, 800, 900, 999)
WINDOW = 32                  # supervised frames per window
GUIDE_MARGIN = 0.9           # the condition "clearly" helps where its error is below 90% of the no-network one


def errors(skinning: LandmarkSkinning, x: torch.Tensor, truth: torch.Tensor, betas: torch.Tensor) -> Dict[str, float]:
    """6D poses x (B, W, 144) against truth (B, W, 144) with betas (B, W, nb) -> body rotation error (deg) and
    pelvis-centred MPJPE (mm)."""
    r, rt = x_to_rotmats(x.reshape(-1, 144)), x_to_rotmats(truth.reshape(-1, 144))
    cos = (((r.transpose(-1, -2) @ rt).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    deg = float(torch.rad2deg(torch.arccos(cos))[:, 1:].mean())
    b = betas.reshape(-1, betas.shape[-1])
    j, _ = skinning(r, b)
    jt, _ = skinning(rt, b)
    mm = float(((j - j[:, :1]) - (jt - jt[:, :1])).norm(dim=-1).mean()) * 1000.0
    return {"deg": deg, "mm": mm}


def choose_schedule(curve: Sequence[Dict[str, object]], regression_mm: float) -> Dict[str, int]:
    """The per-t curve (rows with t, none, cond errors, MPJPE mm) and the regression mode's MPJPE -> t* (the
    smallest t whose no-network error reaches the regression error) and t_guide (the smallest t from which the
    conditional error stays below GUIDE_MARGIN x the no-network error)."""
    rows = sorted(curve, key=lambda r: int(r["t"]))
    t_star = next((int(r["t"]) for r in rows if float(r["none"]["mm"]) >= regression_mm), int(rows[-1]["t"]))
    t_guide = int(rows[-1]["t"])
    for r in reversed(rows):
        if float(r["cond"]["mm"]) < GUIDE_MARGIN * float(r["none"]["mm"]):
            t_guide = int(r["t"])
        else:
            break
    return {"t_star": t_star, "t_guide": t_guide}


def plot(curve: Sequence[Dict[str, object]], regression: Dict[str, float], schedule: Dict[str, int],
         out: Path) -> None:
    """The curve as a PNG (needs matplotlib; skipped with a warning when it is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plot")
        return
    ts = [int(r["t"]) for r in curve]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key, label in (("none", "no network (z_t / sqrt(abar))"), ("uncond", "unconditional"),
                       ("cond", "conditional (keypoints)")):
        ax.plot(ts, [float(r[key]["mm"]) for r in curve], marker="o", label=label)
    ax.axhline(regression["mm"], color="grey", linestyle="--", label="regression mode (the start)")
    ax.axvline(schedule["t_star"], color="black", linestyle=":", label=f"t* = {schedule['t_star']}")
    ax.axvspan(0, schedule["t_guide"], color="green", alpha=0.08, label=f"guidance (t < {schedule['t_guide']})")
    ax.set_xlabel("diffusion timestep t")
    ax.set_ylabel("one-step x0 error, MPJPE (mm)")
    ax.set_yscale("log")
    ax.set_title("Dual motion model on held-out windows (training observation model)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


@torch.no_grad()
def measure(model_path: Optional[Path], dataset: Path, windows: int, seed: int) -> Dict[str, object]:
    """The curve, the regression row and the schedule read from them."""
    model = load_dual_motion(model_path)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    _, val = load_clip_sets(dataset)
    g = torch.Generator().manual_seed(seed)
    batch = make_batch(skinning, model, val, windows, WINDOW, g)
    evidence = model.evidence(batch["features"], batch["frame"])
    x_all, b = batch["x_all"], batch["x_all"].shape[0]
    k = model.context
    truth, betas = batch["x"], batch["betas"]
    last = model.config.num_timesteps - 1
    reg = model(torch.zeros_like(x_all), last, evidence, None, batch["fps"])
    regression = errors(skinning, reg["x"], truth, betas)
    frame_only = errors(skinning, batch["frame"]["x"][:, k:-k], truth, betas)
    noise = torch.randn(x_all.shape, generator=g)
    z0 = model.normalize(x_all)
    ac = model.alphas_cumprod
    curve: List[Dict[str, object]] = []
    for t in TIMESTEPS:
        z_t = q_sample(z0.reshape(b, -1), t, noise.reshape(b, -1), ac).reshape(x_all.shape)
        none = model.denormalize(z_t[:, k:-k] / ac[t].sqrt())
        un = model(z_t, t, None, None, batch["fps"])["x"]
        co = model(z_t, t, evidence, None, batch["fps"])["x"]
        curve.append({"t": t, "none": errors(skinning, none, truth, betas), "uncond": errors(skinning, un, truth, betas),
                      "cond": errors(skinning, co, truth, betas)})
    schedule = choose_schedule(curve, regression["mm"])
    return {"windows": windows, "frames": WINDOW, "seed": seed, "regression": regression,
            "per_frame_regressor": frame_only, "curve": curve, "schedule": schedule}


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="dual motion checkpoint (default: resolved)")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--windows", type=int, default=32)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot", type=Path, default=None, help="write the curve as a PNG here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = measure(args.model, args.dataset, args.windows, args.seed)
    print(f"One-step clean estimate on {args.windows} held-out windows x {WINDOW} frames (training observation "
          f"model): body-joint rotation error deg / MPJPE mm")
    print(f"regression mode (t = T-1, empty state): {out['regression']['deg']:.2f} deg / "
          f"{out['regression']['mm']:.1f} mm; per-frame regressor: {out['per_frame_regressor']['deg']:.2f} / "
          f"{out['per_frame_regressor']['mm']:.1f}")
    print(f"{'t':>5s} {'no network':>16s} {'unconditional':>16s} {'conditional':>16s}")
    for r in out["curve"]:
        cells = " ".join(f"{r[k]['deg']:7.2f} /{r[k]['mm']:6.1f}" for k in ("none", "uncond", "cond"))
        print(f"{r['t']:5d} {cells}")
    s = out["schedule"]
    print(f"chosen: t* = {s['t_star']} (no-network MPJPE reaches the regression's), guidance below "
          f"t = {s['t_guide']} (above it the condition beats the no-network estimate by > "
          f"{100 * (1 - GUIDE_MARGIN):.0f}%)")
    if args.plot:
        plot(out["curve"], out["regression"], s, args.plot)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
