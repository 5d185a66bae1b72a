"""The body-shape sliders of a capture (gender, height, weight, muscle) as Blender sees them, in numpy (no bpy).

A schema 4 result carries, for the built-in body, each slider's value and the rest mesh's and rest joints' change
per unit of it (``shape_*``: linear, :mod:`server.body.phenotype`). Blender shows them live: one shape key per slider
on the body mesh (:func:`armature_directions`) and the bones moved to :func:`shaped_rest`'s heads. Both keep the
lowest rest joint at z = 0, as the import does (``capture_result.rest_to_armature``), so a body made taller stands
on the same ground and its feet keep their keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .blender_frames import SMPL_TO_ARMATURE

LABELS = {"gender": "Gender", "height": "Height", "weight": "Weight", "muscle": "Muscle"}


@dataclass(frozen=True)
class ShapeSliders:
    """names (S,) of :data:`LABELS`; values (S,) the capture's (height: stature, metres); vertex_dirs (S, V, 3)
    and joint_dirs (S, J, 3) the rest mesh's and joints' change per unit of each, SMPL canonical frame, metres."""

    names: Tuple[str, ...]
    values: np.ndarray
    vertex_dirs: np.ndarray
    joint_dirs: np.ndarray


def load_sliders(arrays: Dict[str, np.ndarray]) -> Optional[ShapeSliders]:
    """The result's sliders (the worker's reader checked their shapes), or None when it has none or names a slider
    this add-on does not know (a newer worker)."""
    if arrays.get("shape_sliders") is None:
        return None
    names = tuple(str(n) for n in arrays["shape_sliders"])
    if any(n not in LABELS for n in names):
        return None
    return ShapeSliders(names, np.asarray(arrays["shape_values"], np.float64),
                        np.asarray(arrays["shape_vertex_dirs"], np.float64),
                        np.asarray(arrays["shape_joint_dirs"], np.float64))


def lowest_joint(joints_rest: np.ndarray) -> int:
    """The rest joint (J, 3 SMPL canonical) the import stands at z = 0."""
    return int(np.argmin((np.asarray(joints_rest, np.float64) @ SMPL_TO_ARMATURE.T)[:, 2]))


def armature_directions(sliders: ShapeSliders, lowest: int) -> np.ndarray:
    """Shape-key offsets (S, V, 3) in armature space per unit of each slider, the ``lowest`` joint kept at z = 0."""
    out = sliders.vertex_dirs @ SMPL_TO_ARMATURE.T
    out[..., 2] -= (sliders.joint_dirs[:, lowest] @ SMPL_TO_ARMATURE.T)[:, 2][:, None]
    return out


def shaped_joints(joints_rest: np.ndarray, sliders: ShapeSliders, values: np.ndarray) -> np.ndarray:
    """Rest joints (J, 3 SMPL canonical) of the capture's body with the sliders at ``values`` (S,)."""
    change = np.asarray(values, np.float64) - sliders.values
    return np.asarray(joints_rest, np.float64) + np.einsum("s,sjc->jc", change, sliders.joint_dirs)


def shaped_rest(joints_rest: np.ndarray, sliders: ShapeSliders, values: np.ndarray, lowest: int) -> np.ndarray:
    """Bone heads (J, 3) in armature space with the sliders at ``values`` (S,), the ``lowest`` joint at z = 0 (with
    the capture's values: the import's own heads)."""
    heads = shaped_joints(joints_rest, sliders, values) @ SMPL_TO_ARMATURE.T
    heads[:, 2] -= heads[lowest, 2]
    return heads

