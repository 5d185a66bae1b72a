"""The training loop both trainers share: time budget, learning-rate schedule, validation, periodic saves.

A trainer supplies three callables: ``step(lr) -> loss`` (one optimiser step), ``validate() -> {name: value}``
(held-out figures of the EMA model) and ``save(state) -> figures`` (writes the checkpoint, returns its figures).
``cfg`` is the trainer's frozen config dataclass with ``steps``, ``minutes``, ``lr``, ``min_lr``, ``warmup``,
``val_every``, ``save_every_minutes``, ``calibration_steps``, ``batch`` and ``threads``.

Time budget: with ``minutes`` and no ``steps`` the run measures its speed over the first ``calibration_steps``
and fixes the total step count from it (logged and stored in the checkpoint); the learning-rate schedule is a
function of the step only, so ``steps`` = that count reproduces the run exactly (same seed, torch, threads).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from .progress_display import Progress

log = logging.getLogger("server.train")


@dataclass(frozen=True)
class LoopConfig:
    """What every training run has (trainers subclass it, adding their own fields and defaults; all of it is
    stored in the checkpoint)."""

    dataset: str
    out: str
    minutes: Optional[float] = None
    steps: Optional[int] = None
    batch: int = 256
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup: int = 500
    weight_decay: float = 1e-4
    ema: float = 0.995
    val_every: int = 2000
    val_size: int = 2048
    save_every_minutes: float = 10.0
    calibration_steps: int = 200
    seed: int = 0
    threads: int = 0
    log: Optional[str] = None


LOOP_ARGUMENTS = ("batch", "lr", "min_lr", "warmup", "weight_decay", "ema", "val_every", "val_size",
                  "save_every_minutes", "calibration_steps", "seed", "threads")


@dataclass
class LoopState:
    """Where a run stands: steps done, planned total (None until calibrated), start time, smoothed training
    loss and the validation history."""

    step: int = 0
    total: Optional[int] = None
    start: float = field(default_factory=time.monotonic)
    running: float = float("nan")
    history: List[Dict[str, float]] = field(default_factory=list)

    def record(self, cfg: Any, **data: Any) -> Dict[str, Any]:
        """The checkpoint's ``training`` record: steps, samples, minutes, speed, threads, torch + ``data``."""
        elapsed = time.monotonic() - self.start
        return {"steps": self.step, "planned_steps": self.total or self.step, "samples": self.step * cfg.batch,
                "minutes": elapsed / 60.0, "steps_per_s": self.step / elapsed if elapsed > 0 else 0.0,
                "threads": torch.get_num_threads(), "torch": torch.__version__, **data}


def learning_rate(cfg: Any, step: int, total: int) -> float:
    """Linear warm-up for ``cfg.warmup`` steps, then cosine from ``cfg.lr`` to ``cfg.min_lr`` at ``total``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * frac))


def total_steps(cfg: Any, step: int, elapsed: float) -> Optional[int]:
    """The run's step count: ``cfg.steps``, else (after calibration) what the time budget buys at the measured
    speed (with a 3% margin so the schedule finishes in time)."""
    if cfg.steps is not None:
        return cfg.steps
    if cfg.minutes is not None and step >= cfg.calibration_steps:
        left = cfg.minutes * 60.0 - elapsed
        return step + max(1, int(0.97 * left * step / elapsed))
    return None


def run_loop(cfg: Any, name: str, step: Callable[[float], float], validate: Callable[[], Dict[str, float]],
             save: Callable[[LoopState], Dict[str, Any]]) -> Dict[str, Any]:
    """Train until ``cfg.steps`` (or the time budget); validate every ``cfg.val_every`` steps and at the end,
    save every ``cfg.save_every_minutes`` and at the end -> the final figures from ``save``."""
    state = LoopState()
    state.total = cfg.steps
    progress, last_save = Progress(cfg.steps, name), state.start
    while state.total is None or state.step < state.total:
        if cfg.minutes is not None and time.monotonic() - state.start >= cfg.minutes * 60.0:
            log.warning("time limit reached at step %d of %s", state.step, state.total)
            break
        loss = step(learning_rate(cfg, state.step, state.total or 10 ** 9))
        state.running = loss if math.isnan(state.running) else 0.98 * state.running + 0.02 * loss
        state.step += 1
        if state.total is None:
            state.total = total_steps(cfg, state.step, time.monotonic() - state.start)
            if state.total is not None:
                log.info("%.1f steps/s over %d steps: %d steps in %.1f minutes",
                         state.step / (time.monotonic() - state.start), state.step, state.total, cfg.minutes)
                progress.set_total(state.total)
        figures = {"loss": state.running}
        if state.step % cfg.val_every == 0 or state.step == state.total:
            figures.update(validate())
            state.history.append({"step": state.step, "train_loss": state.running, **figures})
        progress.update(state.step, figures)
        if time.monotonic() - last_save >= cfg.save_every_minutes * 60.0:
            save(state)
            last_save = time.monotonic()
    progress.close()
    return save(state)


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def add_arguments(parser: argparse.ArgumentParser, defaults: Any, names: Sequence[str], what: str) -> None:
    """The arguments every trainer takes (dataset, out, minutes, steps, log) and ``--<name>`` for each of
    ``names`` with the type and default of ``defaults``' field."""
    parser.add_argument("--dataset", required=True, help="pose_dataset.npz built by server.data")
    parser.add_argument("--out", required=True, help=f"checkpoint to write, e.g. server/assets/weights/{what}")
    parser.add_argument("--minutes", type=float, help="time budget (the step count is fixed from the measured speed)")
    parser.add_argument("--steps", type=int, help="exact number of steps (reproduces a run bit for bit)")
    parser.add_argument("--log", help="log file (default: <out>.log)")
    for name in names:
        value = getattr(defaults, name)
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value, help=f"default {value}")


def setup_logging(log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.StreamHandler(), logging.FileHandler(log_file, mode="w")):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def prepare(cfg: Any) -> None:
    """Check that the run has a length and set torch's thread count (before anything is built)."""
    if cfg.steps is None and cfg.minutes is None:
        raise ValueError("give --steps, --minutes or both")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)


def main_of(cfg: Any, train: Callable[[Any], Dict[str, Any]], logger: logging.Logger) -> int:
    """A trainer's ``main``: log file next to the checkpoint, the config logged, train, the figures logged."""
    cfg = replace(cfg, log=cfg.log or str(Path(cfg.out).with_suffix(".log")))
    setup_logging(Path(cfg.log))
    logger.info("config: %s", json.dumps(asdict(cfg), sort_keys=True))
    figures = train(cfg)
    logger.info("done: %s", json.dumps(json_safe({k: v for k, v in figures.items() if k != "history"})))
    return 0


def optimiser_step(run: Dict[str, Any], lr: float, loss: torch.Tensor) -> float:
    """One optimiser step of a trainer's ``run`` (``opt``, ``model``, ``ema``) on ``loss`` at learning rate
    ``lr``; the EMA follows. -> the loss as a float."""
    for group in run["opt"].param_groups:
        group["lr"] = lr
    run["opt"].zero_grad(set_to_none=True)
    loss.backward()
    run["opt"].step()
    run["ema"].update(run["model"])
    return float(loss.detach())


def save_checkpoint(ema: Any, cfg: Any, training: Dict[str, Any], figures: Dict[str, Any],
                    make: Callable[..., Dict[str, Any]]) -> None:
    """Atomically write the EMA model to ``cfg.out`` (``make(model, figures, training)`` builds the checkpoint
    dict) and its JSON sidecar. ``cfg`` is any dataclass with ``out`` (and ``dataset``, ``log``)."""
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plain_cfg = {k: v for k, v in asdict(cfg).items() if v is not None}
    for key in ("dataset", "out", "log"):  # file names only: no local paths in a shipped file
        if key in plain_cfg:
            plain_cfg[key] = Path(plain_cfg[key]).name
    ckpt = make(ema.model, figures, {**training, "config": plain_cfg})
    tmp = out.with_name(out.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, out)
    sidecar = {"format": ckpt["format"], "model": ckpt["config"], "training": ckpt["training"], "figures": figures}
    out.with_suffix(".json").write_text(json.dumps(json_safe(sidecar), indent=2, sort_keys=True) + "\n")
    log.info("saved %s", out)


def run_training(cfg: Any, name: str, run: Dict[str, Any], step: Callable[[float], float],
                 validate: Callable[[], Dict[str, float]], make: Callable[..., Dict[str, Any]], parameters: int,
                 **counts: Any) -> Dict[str, Any]:
    """A trainer's whole run: :func:`run_loop` with a save that writes ``run["ema"]``'s model through ``make``
    (:func:`save_checkpoint`), its figures (training loss, ``validate()``, ``parameters``, the last 50 validation
    records) and ``counts`` (e.g. train/val sizes) in the training record."""
    def save(state: LoopState) -> Dict[str, Any]:
        figures = {"train_loss": state.running, **validate(), "parameters": parameters,
                   "history": state.history[-50:]}
        save_checkpoint(run["ema"], cfg, state.record(cfg, **counts), figures, make)
        return figures

    return run_loop(cfg, name, step, validate, save)
