"""Foot figures of the cleanup's foot locking: ground plane, foot contacts, sliding and penetration before
and after (prints a table; ``--json`` writes the figures). Captures: scripts/benchmark_place.py.

    .venv/bin/python scripts/benchmark_feet.py [--dataset POSES.npz] [--clips 16] [--length 120] [--seed 0]
                                               [--threads 1] [--json OUT]

Synthetic held-out clips: ``--clips`` windows of ``--length`` val-split frames (30 fps, unseen subjects) of our
body posed by the mocap (SMPL's y-up world). Their ground and contacts (:mod:`server.world.feet` on the clean
joints) are the known truth. Input: jittery keys (0.04 rad per axis-angle component on every joint, 1 cm on the
root translation, as in benchmark_cleanup.py). Rows: the input, our cleanup alone, cleanup + foot locking (ground
and contacts found on the noisy input). Figures, against the true ground and contacts: foot sliding (mean
horizontal displacement of a heel or toe between consecutive contact frames, cm/frame), penetration (mean depth
below the ground where below, cm; fraction of foot points more than 1 cm below), the tilt of the found ground
(degrees) and the contact agreement (F1 of found vs true contacts), MPJPE to the clean joints (mm).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from cleanup_clips import FPS, MM, held_out_arguments, load_clips  # noqa: E402
from cleanup_keys import key_noise  # noqa: E402
from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.cleanup.methods import cleanup  # noqa: E402
from server.cleanup.sequence import make_sequence  # noqa: E402
from server.diffusion.denoiser import load_prior  # noqa: E402
from server.world.feet import fit_ground, foot_contacts, foot_sliding, ground_penetration  # noqa: E402
from server.world.lock import WORLD_UP, lock_feet, sequence_joints  # noqa: E402

log = logging.getLogger("benchmark_feet")
KEY_NOISE = 0.04


def f1(found: np.ndarray, truth: np.ndarray) -> float:
    """F1 score of boolean contact labels."""
    tp = float((found & truth).sum())
    return 2 * tp / max(float(found.sum() + truth.sum()), 1.0)


def synthetic(skinning: LandmarkSkinning, prior, dataset: Path, clips: int, length: int,
              seed: int) -> Dict[str, Dict[str, float]]:
    poses, transl = load_clips(dataset, clips, length, seed)
    noisy_p, noisy_t = key_noise(poses, transl, KEY_NOISE, seed + 40)
    rows: Dict[str, List[dict]] = {"jittery keys": [], "cleanup": [], "cleanup + foot locking": []}
    tilts, agreement = [], []
    for c in range(clips):
        clean = make_sequence(poses[c], transl[c], np.zeros(10, np.float32), FPS, None, "world")
        truth = sequence_joints(skinning, clean)
        ground = fit_ground(truth, FPS, WORLD_UP)
        contacts = foot_contacts(truth, ground, FPS)
        noisy = make_sequence(noisy_p[c].astype(np.float32), noisy_t[c].astype(np.float32), clean.betas, FPS, None,
                              "world")
        locked, report = lock_feet(prior, skinning, noisy)
        tilts.append(float(np.degrees(np.arccos(np.clip(report.ground.normal @ ground.normal, -1, 1)))))
        agreement.append(f1(report.contacts, contacts))
        for name, seq in (("jittery keys", noisy), ("cleanup", cleanup(prior, skinning, noisy)),
                          ("cleanup + foot locking", locked)):
            j = sequence_joints(skinning, seq)
            depth, share = ground_penetration(j, ground)
            rows[name].append({"sliding_cm_per_frame": foot_sliding(j, contacts, ground), "penetration_cm": depth,
                               "below_1cm": share,
                               "mpjpe_mm": float(np.linalg.norm(j - truth, axis=-1).mean() * MM)})
    table = {name: {k: float(np.nanmean([r[k] for r in vals])) for k in vals[0]} for name, vals in rows.items()}
    clean_sliding = []
    for c in range(clips):
        truth = sequence_joints(skinning, make_sequence(poses[c], transl[c], np.zeros(10, np.float32), FPS, None,
                                                        "world"))
        ground = fit_ground(truth, FPS, WORLD_UP)
        clean_sliding.append(foot_sliding(truth, foot_contacts(truth, ground, FPS), ground))
    table["clean mocap (reference)"] = {"sliding_cm_per_frame": float(np.nanmean(clean_sliding))}
    table["found ground"] = {"tilt_deg": float(np.mean(tilts)), "contact_f1": float(np.mean(agreement))}
    return table


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    held_out_arguments(parser, length=120)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    prior = load_prior()
    figures = {"synthetic": synthetic(skinning, prior, args.dataset, args.clips, args.length, args.seed)}
    print(f"\nFeet on {args.clips} held-out clips x {args.length} frames, jittery keys ({KEY_NOISE} rad):")
    print(f"{'':28s}{'sliding cm/f':>14s}{'below cm':>10s}{'>1cm below':>12s}{'MPJPE mm':>10s}")
    for name, row in figures["synthetic"].items():
        if "mpjpe_mm" in row:
            print(f"{name:28s}{row['sliding_cm_per_frame']:14.2f}{row['penetration_cm']:10.2f}"
                  f"{row['below_1cm']:12.3f}{row['mpjpe_mm']:10.1f}")
    print(f"{'clean mocap (reference)':28s}{figures['synthetic']['clean mocap (reference)']['sliding_cm_per_frame']:14.2f}")
    found = figures["synthetic"]["found ground"]
    print(f"found ground tilt {found['tilt_deg']:.1f} deg; contact F1 {found['contact_f1']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
