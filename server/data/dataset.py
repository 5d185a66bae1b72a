"""The pooled SMPL pose dataset built from the mocap archive: build, split by subject, save, load.

File (``.npz``, no pickled objects), N frames at 30 fps, all clips concatenated in clip order:
    poses (N, 24, 3) float32  axis-angle, SMPL joint order, poses[:, 0] = global orientation in SMPL's canonical
                              frame (y up; the source's rest pose faced +z)
    transl (N, 3) float32     root translation, metres (our body's pelvis = body rest pelvis + transl); each
                              clip's feet put on the floor y = 0 (retarget.floor_offset)
    clip_id (N,) int32        index into clip_names
    subject_id (N,) int32     index into subject_names;  source_id (N,) int32 index into source_names
    split (N,) <U5            'train' or 'val' (by subject, see :func:`split_subjects`)
    clip_names (C,), clip_skeleton (C,), subject_names (S,), source_names (K,) str;  fps () float = 30
Mirroring is a training-time augmentation (:func:`.poses.mirror_poses`, :func:`.poses.mirror_transl`), not stored.
"""
from __future__ import annotations

import logging
import os
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Union

import numpy as np

from .archive import ClipSpec, list_clips, load_clip
from .poses import TARGET_FPS, resample_poses
from .mocap_retarget import floor_offset, make_plan, retarget

log = logging.getLogger(__name__)

VAL_FRACTION = 0.125  # share of each source's subjects held out (sources with at least 3 subjects)


def default_cache_dir() -> Path:
    """$SCOREHMR_CACHE, else $XDG_CACHE_HOME/blender_scorehmr, else ~/.cache/blender_scorehmr."""
    cache = os.environ.get("SCOREHMR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "blender_scorehmr")
    return Path(cache)


def split_subjects(subject_frames: Mapping[str, Mapping[str, int]]) -> Dict[str, str]:
    """Subject -> 'train' | 'val'. ``subject_frames[subject][source]`` = frames of that subject in that source.

    Rule (deterministic): each subject belongs to the source holding most of its frames; in every source with at
    least 3 subjects, the max(1, round(12.5 %)) subjects with the smallest CRC-32 of their name are held out for
    validation. Sources with 1-2 subjects stay entirely in train, so every source is represented in train.
    """
    home: Dict[str, List[str]] = defaultdict(list)
    for subject, per_source in sorted(subject_frames.items()):
        home[max(sorted(per_source), key=lambda s: per_source[s])].append(subject)
    split = {s: "train" for s in subject_frames}
    for subjects in home.values():
        if len(subjects) >= 3:
            count = max(1, int(round(VAL_FRACTION * len(subjects))))
            for subject in sorted(subjects, key=lambda s: zlib.crc32(s.encode()))[:count]:
                split[subject] = "val"
    return split


def convert_clip(root: Path, spec: ClipSpec) -> Dict[str, Any]:
    """One clip -> {'poses' (M, 24, 3), 'transl' (M, 3)} at 30 fps, plus its skeleton config name."""
    motion, cfg, rest = load_clip(root, spec)
    plan = make_plan(motion.skeleton, cfg, rest)
    poses, transl = retarget(motion, plan)
    poses, transl = resample_poses(poses, transl, motion.fps, TARGET_FPS)
    shift = floor_offset(poses, transl, plan.body_joints)
    if abs(shift) > 0.03:
        log.info("%s: feet %.3f m %s the floor; moved onto it", spec.name, abs(shift), "above" if shift > 0 else "under")
    transl[:, 1] -= shift
    return {"poses": poses.astype(np.float32), "transl": transl.astype(np.float32), "skeleton": cfg.name}


def build_pose_dataset(root: Union[str, Path], specs: Sequence[ClipSpec] = ()) -> Dict[str, Any]:
    """Converts every clip of the archive (or ``specs``) -> the arrays described in the module doc."""
    root = Path(root)
    specs = list(specs) or list_clips(root)
    clips = []
    for i, spec in enumerate(specs):
        clips.append(convert_clip(root, spec))
        log.debug("%d/%d %s: %d frames", i + 1, len(specs), spec.name, len(clips[-1]["poses"]))
    sources = sorted({s.source for s in specs})
    subjects = sorted({s.subject for s in specs})
    frames: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec, clip in zip(specs, clips):
        frames[spec.subject][spec.source] += len(clip["poses"])
    split = split_subjects(frames)
    counts = [len(c["poses"]) for c in clips]
    rep = lambda values: np.repeat(np.asarray(values, dtype=np.int32), counts)  # noqa: E731
    subject_id = rep([subjects.index(s.subject) for s in specs])
    return {
        "poses": np.concatenate([c["poses"] for c in clips]), "transl": np.concatenate([c["transl"] for c in clips]),
        "clip_id": rep(range(len(specs))), "subject_id": subject_id,
        "source_id": rep([sources.index(s.source) for s in specs]),
        "split": np.asarray([split[subjects[i]] for i in subject_id], dtype="<U5"),
        "clip_names": np.asarray([s.name for s in specs]), "clip_skeleton": np.asarray([c["skeleton"] for c in clips]),
        "subject_names": np.asarray(subjects), "source_names": np.asarray(sources), "fps": np.float64(TARGET_FPS),
    }


def summarize(data: Mapping[str, np.ndarray]) -> List[str]:
    """Human-readable lines: frames and minutes per source and per split, held-out subjects."""
    fps = float(data["fps"])
    lines = []
    for k, name in enumerate(data["source_names"]):
        n = int(np.sum(data["source_id"] == k))
        clips = len(np.unique(data["clip_id"][data["source_id"] == k]))
        lines.append(f"{name}: {clips} clips, {n} frames, {n / fps / 60:.2f} min")
    for part in ("train", "val"):
        mask = data["split"] == part
        subj = sorted(set(data["subject_names"][np.unique(data["subject_id"][mask])]))
        lines.append(f"{part}: {int(mask.sum())} frames, {mask.sum() / fps / 60:.2f} min, {len(subj)} subjects"
                     + (f" ({', '.join(subj)})" if part == "val" else ""))
    lines.append(f"total: {len(data['poses'])} frames, {len(data['poses']) / fps / 60:.2f} min at {fps:g} fps")
    return lines


def save_pose_dataset(data: Mapping[str, np.ndarray], path: Union[str, Path]) -> Path:
    """Writes the arrays to ``path`` (.npz, uncompressed, no object arrays)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in data.items()})
    tmp.replace(p)
    return p


def load_pose_dataset(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Reads a dataset file -> dict with the stored arrays plus ``subject`` (N,) and ``source`` (N,) names.

    Keys the trainer relies on: poses (N, 24, 3) float32 (SMPL order, [:, 0] global orientation, canonical y-up),
    transl (N, 3) float32, clip_id (N,) int32, split (N,) 'train'/'val', subject (N,) str, fps.
    """
    with np.load(Path(path), allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    data["subject"] = data["subject_names"][data["subject_id"]]
    data["source"] = data["source_names"][data["source_id"]]
    return data
