"""Training poses from the pose dataset (built by :mod:`server.data`), with mirroring.

Dataset interface (``server.data.dataset.load_pose_dataset(path)``): a dict with ``poses`` (N, 24, 3) float32
axis-angle in SMPL order (root in SMPL's canonical frame, y up), ``transl`` (N, 3), ``clip_id`` (N,), ``split`` (N,)
of 'train' / 'val' (by subject), ``subject`` (N,). Until that module exists the same .npz is read here directly and
mirrored with :func:`mirror_poses_fallback`.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Callable, Dict, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..body.layout import SMPL_JOINT_NAMES

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("poses", "split")
_MIRROR_JOINT = np.array([SMPL_JOINT_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
                          for n in SMPL_JOINT_NAMES])


def mirror_poses_fallback(poses: np.ndarray) -> np.ndarray:
    """(N, 24, 3) axis-angle -> the left/right mirror image (reflection x -> -x of SMPL's frame, x = body left):
    joints swap sides and each rotation vector (x, y, z) becomes (x, -y, -z)."""
    out = np.asarray(poses)[:, _MIRROR_JOINT].copy()
    out[..., 1:] *= -1.0
    return out


def _read_npz(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    with np.load(Path(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def dataset_api() -> Tuple[Callable[[Union[str, Path]], Dict[str, np.ndarray]], Callable[[np.ndarray], np.ndarray]]:
    """(load_pose_dataset, mirror_poses) from server.data.dataset, or this module's fallbacks if it is absent."""
    try:
        dataset = importlib.import_module("..data.dataset", __package__)
    except ModuleNotFoundError as exc:
        if exc.name not in ("server.data", "server.data.dataset"):
            raise
        log.warning("server.data.dataset is not available; reading the .npz directly and mirroring locally")
        return _read_npz, mirror_poses_fallback
    return dataset.load_pose_dataset, getattr(dataset, "mirror_poses", mirror_poses_fallback)


def load_training_poses(path: Union[str, Path], mirror: bool = True) -> Tuple[Tensor, Tensor]:
    """-> train poses (M, 24, 3), val poses (V, 24, 3) float32; with ``mirror`` the train set also holds every
    pose's mirror image (M = 2 x train frames), so sampling from it is the mirroring augmentation."""
    train, val, _ = load_training_set(path, mirror)
    return train, val


def source_balanced_weights(sources: np.ndarray) -> np.ndarray:
    """(N,) source names -> (N,) sampling weights that give each source a share ~ sqrt(its frames).

    The mocap is lopsided (standing idles are over half of it); sqrt keeps big sources big without letting
    them drown the varied ones."""
    names, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
    weights = 1.0 / np.sqrt(counts[inverse].astype(np.float64))
    return weights / weights.sum()


def load_training_set(path: Union[str, Path], mirror: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`load_training_poses` plus (M,) float64 sampling weights for the train poses (source-balanced
    when the dataset names its sources, uniform otherwise)."""
    load, mirror_poses = dataset_api()
    data = load(path)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"pose dataset {path} lacks {missing}")
    poses = np.asarray(data["poses"], dtype=np.float32)
    if poses.ndim != 3 or poses.shape[1:] != (24, 3) or not np.isfinite(poses).all():
        raise ValueError(f"pose dataset {path}: poses must be finite (N, 24, 3), got {poses.shape}")
    split = np.asarray(data["split"]).astype(str)
    train, val = poses[split == "train"], poses[split == "val"]
    if len(train) == 0:
        raise ValueError(f"pose dataset {path} has no 'train' frames")
    sources = np.asarray(data["source"])[split == "train"] if "source" in data else np.zeros(len(train))
    weights = source_balanced_weights(sources)
    if mirror:
        train = np.concatenate([train, np.asarray(mirror_poses(train), dtype=np.float32)])
        weights = np.concatenate([weights, weights]) / 2.0
    log.info("pose dataset %s: %d train poses (mirrored: %s), %d val poses", path, len(train), mirror, len(val))
    return torch.from_numpy(train), torch.from_numpy(val), torch.from_numpy(weights)
