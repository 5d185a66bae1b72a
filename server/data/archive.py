"""The unpacked mocap archive (../shared/data/mocap): which clips to use, their subjects, and loading them.

Driven by ``index.tsv`` (source, path, subject, clip, frames, fps, licence, note). Rules from the archive's README
and SOURCE.txt files, applied here:
- cmu_jump_arpspoof ``data/vae/txt/extra/*`` are excluded (unknown provenance);
- cmu_bvh11_koyama ``scaled_*`` files duplicate the unscaled ones (skipped);
- a CMU take (subject + trial) present in several sources is used once, from the first source in
  :data:`SOURCE_PRIORITY` (iClone first): this drops ammarkov 02_03/05_01 and the DeepMimic copies of CMU 02_01..04,
  06_09, 07_03/05/06/07/11 that the iClone set holds in full;
- cmu_acrnn_papagina salsa files are 60 fps (their header says 120).
Subjects are named across sources (``cmu002`` is one person wherever the take came from), so a split by subject
never puts the same CMU performer on both sides.
"""
from __future__ import annotations

import csv
import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .bvh import bvh_motion, read_bvh, scale_root_positions, tpose_floor_root_scale
from .deepmimic import read_character, read_motion
from .skeleton_motion import SourceMotion
from .mocap_retarget import RestPose, rest_from_frame, zero_rest
from .skeletons import SourceConfig, config_for_skeleton

log = logging.getLogger(__name__)

SOURCE_PRIORITY: Tuple[str, ...] = ("cmu_iclone_dragonforged", "cmu_acrnn_papagina", "cmu_bvh11_koyama",
                                    "cmu_rgbdacq_ammarkov", "cmu_jump_arpspoof", "reactidle_mit")
DEEPMIMIC_CHARACTER = "cmu_jump_arpspoof/data/characters/humanoid3d.txt"
_FPS_OVERRIDES: Tuple[Tuple[str, str, float], ...] = (("cmu_acrnn_papagina", "train_data_bvh/salsa/", 60.0),)
_EXCLUDED = (("cmu_jump_arpspoof", re.compile(r"(^|/)extra/")), ("cmu_bvh11_koyama", re.compile(r"(^|/)scaled_")))


@dataclass(frozen=True)
class ClipSpec:
    """One motion file: source folder, path inside it, subject (shared across sources), clip name, fps override."""

    source: str
    path: str
    subject: str
    clip: str
    fps: Optional[float] = None

    @property
    def name(self) -> str:
        return f"{self.source}/{self.clip}"


def _subject(raw: str) -> str:
    """index.tsv subject -> split group ('cmu094(inferred)' -> 'cmu094'; 'cmu060+061' stays one group)."""
    return raw.split("(")[0].strip()


def _take(spec: ClipSpec) -> Optional[Tuple[str, str]]:
    """(subject, trial) for a CMU take named like NN_TT, else None."""
    m = re.fullmatch(r"0*(\d+)_(\d+)", spec.clip)
    return (spec.subject, m.group(2).lstrip("0")) if spec.subject.startswith("cmu") and m else None


def list_clips(root: Path) -> List[ClipSpec]:
    """The clips to use, in source priority order then index order; logs what each rule dropped."""
    index = Path(root) / "index.tsv"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: unpack ../shared/data/mocap/mocap.tar.xz into the cache first")
    with index.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    specs = []
    for row in rows:
        source, path = row["source"], row["path"]
        if any(source == s and rx.search(path) for s, rx in _EXCLUDED):
            log.info("excluded by the archive's rules: %s/%s", source, path)
            continue
        fps = next((f for s, prefix, f in _FPS_OVERRIDES if s == source and path.startswith(prefix)), None)
        specs.append(ClipSpec(source, path, _subject(row["subject"]), row["clip"], fps))
    order = {s: i for i, s in enumerate(SOURCE_PRIORITY)}
    specs.sort(key=lambda s: order.get(s.source, len(order)))
    seen: Dict[Tuple[str, str], str] = {}
    kept = []
    for spec in specs:
        take = _take(spec)
        if take is not None and take in seen:
            log.info("duplicate CMU take %s_%s: %s skipped (in %s)", spec.subject, take[1], spec.name, seen[take])
            continue
        if take is not None:
            seen[take] = spec.source
        kept.append(spec)
    return kept


@functools.lru_cache(maxsize=8)
def _reference_rest(path: str) -> SourceMotion:
    return bvh_motion(read_bvh(path)).frames(0, 1)


@functools.lru_cache(maxsize=2)
def _character(path: str):
    return read_character(path)


def load_clip(root: Path, spec: ClipSpec) -> Tuple[SourceMotion, SourceConfig, RestPose]:
    """Reads a clip -> (motion with its prepended frames removed and its true fps, its config, its rest pose)."""
    root = Path(root)
    file = root / spec.source / spec.path
    if spec.path.endswith(".txt"):
        skeleton, types = _character(str(root / DEEPMIMIC_CHARACTER))
        motion = read_motion(file, skeleton, types)
    else:
        bvh = read_bvh(file)
        cfg = config_for_skeleton(bvh.skeleton)
        if cfg.root_units_from_tpose:
            factor = tpose_floor_root_scale(bvh)
            log.debug("%s: root positions x %.3f (from the T-pose frame)", spec.name, factor)
            bvh = scale_root_positions(bvh, factor)
        motion = bvh_motion(bvh, fps=spec.fps)
    cfg = config_for_skeleton(motion.skeleton)
    if cfg.rest == "reference":
        ref = root / spec.source / str(cfg.rest_reference)
        rest = rest_from_frame(motion.skeleton, _reference_rest(str(ref)))
    else:
        rest = zero_rest(motion.skeleton)
    return motion.frames(cfg.skip_frames), cfg, rest
