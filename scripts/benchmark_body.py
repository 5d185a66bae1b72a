"""Speed of the guidance loop's body evaluation: fast landmark skinning vs full skinning of every vertex.

Prints a table (median of ``--repeats`` timed runs after one warm-up) for a batch of poses on CPU, forward only
and forward + backward, with the vertex counts each path touches. Uses the built-in open body when it exists,
else (or with ``--synthetic``) a synthetic SMPL-topology model (6890 vertices, non-zero pose correctives).

    .venv/bin/python scripts/benchmark_body.py [--model FILE] [--batch 1000] [--repeats 7]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.body.fast import FullSkinning, LandmarkSkinning  # noqa: E402
from server.body.model import BodyModel, default_body_model_path, load_body_model, model_from_arrays  # noqa: E402
from server.body.synthetic import synthetic_smpl_arrays  # noqa: E402

log = logging.getLogger("benchmark_body")


def _model(args: argparse.Namespace) -> BodyModel:
    path = Path(args.model) if args.model else default_body_model_path()
    if not args.synthetic and path.exists():
        return load_body_model(path)
    log.info("using a synthetic SMPL-topology model (%s)", "asked" if args.synthetic else f"{path} not found")
    return model_from_arrays(synthetic_smpl_arrays(6890, seed=0), "synthetic_smpl.npz")


def _median_seconds(step: Callable[[], None], repeats: int) -> float:
    step()  # warm-up (allocations, lazy init)
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _steps(module: torch.nn.Module, inputs: Tuple[torch.Tensor, ...]) -> Dict[str, Callable[[], None]]:
    """'forward' and 'forward+backward' closures returning nothing; the loss uses joints and landmarks."""

    def forward() -> None:
        with torch.no_grad():
            module(*inputs)

    def backward() -> None:
        poses, betas, transl = (x.detach().requires_grad_(True) for x in inputs)
        out = module(poses, betas, transl)
        (out[-2].square().sum() + out[-1].square().sum()).backward()

    return {"forward": forward, "forward+backward": backward}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="body model file (default: the built-in open body)")
    parser.add_argument("--synthetic", action="store_true", help="use a synthetic 6890-vertex model")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    model = _model(args)
    rng = np.random.default_rng(0)
    inputs = tuple(torch.as_tensor(a, dtype=torch.float32) for a in (
        rng.normal(0.0, 0.5, (args.batch, 24, 3)), rng.normal(0.0, 1.0, (args.batch, model.num_betas)),
        rng.normal(0.0, 1.0, (args.batch, 3))))
    fast, full = LandmarkSkinning(model), FullSkinning(model)
    log.info("timing %s on %d CPU threads", model.name, torch.get_num_threads())
    rows = []
    for label in ("forward", "forward+backward"):
        t_full = _median_seconds(_steps(full, inputs)[label], args.repeats)
        t_fast = _median_seconds(_steps(fast, inputs)[label], args.repeats)
        rows.append((label, t_full, t_fast))
    print(f"body model: {model.name} ({model.num_vertices} vertices, {model.num_betas} betas, pose correctives "
          f"{'yes' if model.has_pose_correctives else 'no'}); batch {args.batch} poses, float32, CPU, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"full skinning: {model.num_vertices} vertices; fast path: {fast.num_vertices_used} vertices folded "
          f"into {fast.num_pairs} landmark-joint pairs")
    print(f"{'pass':<18}{'full (ms)':>12}{'fast (ms)':>12}{'speed-up':>10}")
    for label, t_full, t_fast in rows:
        print(f"{label:<18}{t_full * 1e3:>12.2f}{t_fast * 1e3:>12.2f}{t_full / t_fast:>9.1f}x")


if __name__ == "__main__":
    main()
