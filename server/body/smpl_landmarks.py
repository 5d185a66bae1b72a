"""The 33 BlazePose landmarks on official SMPL topology (6890 vertices), as a (33, V) vertex regressor.

Each landmark is a fixed affine combination of mesh vertices (weights sum to 1), so it moves with the skinned
mesh and can be pre-skinned by the fast path. Sources, per landmark:

- Vertices known from smplx (``smplx.vertex_ids.vertex_ids['smplh']``, read from the installed package):
  nose, left/right eye, left/right ear, heels and big toes (BlazePose's ``*_foot_index`` = the big toe's tip).
- SMPL's own joint regressor rows (``J_regressor``): shoulders, elbows, wrists, hips, knees, ankles.
- No known vertex; a stated combination of the above (approximate, from average face and hand proportions):

  * eye inner/outer corners: the eye vertex moved a quarter of the eye-to-eye distance toward / away from
    the other eye (``inner = 0.75 eye + 0.25 other_eye``, ``outer = 1.25 eye - 0.25 other_eye``);
  * mouth corners: ``nose + 0.9 (nose - eye_mid) + 0.35 (same_eye - other_eye) + 0.2 (ear_mid - nose)``
    (down the face, out to the side, back from the nose tip toward the face plane);
  * pinky / index knuckles (BlazePose's first knuckles): ``0.7 hand_joint + 0.3 finger_tip`` with the hand
    joint from the ``J_regressor`` row of ``left_hand`` / ``right_hand``;
  * thumb (BlazePose's second thumb knuckle): ``0.25 wrist_joint + 0.75 thumb_tip``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..errors import JobError
from .layout import BLAZEPOSE_NAMES, JOINT_INDEX

SMPL_NUM_VERTICES = 6890

# A term is ("v", smplx vertex name) or ("j", SMPL joint name), with its weight.
Term = Tuple[str, str, float]


def _side(prefix: str) -> Dict[str, str]:
    """Names of one side's vertices/joints; ``prefix`` is 'l' or 'r'."""
    other = "r" if prefix == "l" else "l"
    long = "left" if prefix == "l" else "right"
    return {"eye": f"{prefix}eye", "other_eye": f"{other}eye", "ear": f"{prefix}ear", "long": long,
            "thumb": f"{prefix}thumb", "index": f"{prefix}index", "pinky": f"{prefix}pinky",
            "heel": f"{prefix.upper()}Heel", "toe": f"{prefix.upper()}BigToe"}


def landmark_terms() -> Dict[str, List[Term]]:
    """BlazePose landmark name -> its combination of smplx vertex names and SMPL joint-regressor rows."""
    terms: Dict[str, List[Term]] = {"nose": [("v", "nose", 1.0)]}
    for p in ("l", "r"):
        s = _side(p)
        side = s["long"]
        terms[f"{side}_eye"] = [("v", s["eye"], 1.0)]
        terms[f"{side}_eye_inner"] = [("v", s["eye"], 0.75), ("v", s["other_eye"], 0.25)]
        terms[f"{side}_eye_outer"] = [("v", s["eye"], 1.25), ("v", s["other_eye"], -0.25)]
        terms[f"{side}_ear"] = [("v", s["ear"], 1.0)]
        # nose + 0.9 (nose - (le + re)/2) + 0.35 (eye - other) + 0.2 ((lear + rear)/2 - nose)
        terms[f"mouth_{side}"] = [("v", "nose", 1.7), ("v", s["eye"], 0.35 - 0.45), ("v", s["other_eye"], -0.35 - 0.45),
                                  ("v", "lear", 0.1), ("v", "rear", 0.1)]
        for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            terms[f"{side}_{joint}"] = [("j", f"{side}_{joint}", 1.0)]
        for finger in ("pinky", "index"):
            terms[f"{side}_{finger}"] = [("j", f"{side}_hand", 0.7), ("v", s[finger], 0.3)]
        terms[f"{side}_thumb"] = [("j", f"{side}_wrist", 0.25), ("v", s["thumb"], 0.75)]
        terms[f"{side}_heel"] = [("v", s["heel"], 1.0)]
        terms[f"{side}_foot_index"] = [("v", s["toe"], 1.0)]
    return terms


def smplx_vertex_ids() -> Dict[str, int]:
    """SMPL-topology vertex ids from the installed smplx package (``vertex_ids['smplh']``).

    Only smplx's plain ``vertex_ids.py`` is executed, not the package (whose ``__init__`` imports torch), so
    ``pip install --no-deps smplx`` is enough in the worker's environment.
    """
    spec = importlib.util.find_spec("smplx")
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    if folder is None or not (folder / "vertex_ids.py").is_file():
        raise JobError("missing_package", "The smplx package is needed to use official SMPL model files.",
                       "Install it into the worker's Python: python -m pip install --no-deps smplx==0.1.28")
    module_spec = importlib.util.spec_from_file_location("_smplx_vertex_ids", folder / "vertex_ids.py")
    assert module_spec is not None and module_spec.loader is not None  # always so for an existing .py file
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return dict(module.vertex_ids["smplh"])


def smpl_landmark_regressor(j_regressor: np.ndarray) -> np.ndarray:
    """(24, 6890) SMPL joint regressor -> (33, 6890) landmark regressor in BlazePose order (rows sum to 1)."""
    ids = smplx_vertex_ids()
    num_vertices = j_regressor.shape[1]
    terms = landmark_terms()
    out = np.zeros((len(BLAZEPOSE_NAMES), num_vertices))
    for row, name in enumerate(BLAZEPOSE_NAMES):
        for kind, key, weight in terms[name]:
            if kind == "v":
                out[row, ids[key]] += weight
            else:
                out[row] += weight * j_regressor[JOINT_INDEX[key]]
    return out
