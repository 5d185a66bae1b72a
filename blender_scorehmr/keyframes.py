"""Fast keyframe writing (bulk ``keyframe_points.add`` + ``foreach_set``) on Blender 4.2 through 5.x.

Blender 4.4+ has layered actions: F-Curves live in a channelbag per action slot (``action.fcurves`` is gone
in 5.0). Older versions (4.2, 4.3) keep ``action.fcurves``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import bpy

FCurveFactory = Callable[[str, int, str], "bpy.types.FCurve"]


def uses_layered_actions(action: bpy.types.Action) -> bool:
    return bpy.app.version >= (4, 4, 0) and hasattr(action, "slots") and hasattr(action, "layers")


def assign_action(obj: bpy.types.Object, action: bpy.types.Action) -> FCurveFactory:
    """Assign ``action`` to ``obj`` (with a slot on 4.4+) and return ``new(data_path, index, group)``."""
    anim = obj.animation_data or obj.animation_data_create()
    if not uses_layered_actions(action):
        anim.action = action
        return lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    anim.action = action
    anim.action_slot = slot
    return _channelbag_factory(action, slot)


def unassigned_action(obj: bpy.types.Object, action: bpy.types.Action) -> FCurveFactory:
    """``new(data_path, index, group)`` for an action made for ``obj`` but not assigned to it (an alternative
    take the animator can pick in the Action editor; on 4.4+ its slot carries the object's name so Blender
    picks it when the action is assigned)."""
    if not uses_layered_actions(action):
        return lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)
    return _channelbag_factory(action, action.slots.new(id_type="OBJECT", name=obj.name))


def _channelbag_factory(action: bpy.types.Action, slot) -> FCurveFactory:
    """The F-Curve factory of ``slot``'s channelbag (4.4+), made on the action's first layer and strip."""
    from bpy_extras import anim_utils
    if hasattr(anim_utils, "action_ensure_channelbag_for_slot"):
        bag = anim_utils.action_ensure_channelbag_for_slot(action, slot)
    else:  # 4.4 before the helper existed: the same steps by hand
        layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        bag = strip.channelbag(slot, ensure=True)
    return lambda path, index, group: bag.fcurves.new(path, index=index, group_name=group)


def write_curve(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Key ``values`` ``(N,)`` at ``frames`` ``(N,)`` in one bulk call."""
    points = fcurve.keyframe_points
    points.add(len(frames))
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    points.foreach_set("co", co)
    fcurve.update()


def write_pose_keys(new_fcurve: FCurveFactory, bone_names: Sequence[str], frames: np.ndarray,
                    quats: np.ndarray, root_location: np.ndarray) -> int:
    """Rotation keys for every bone ``(N, J, 4)`` WXYZ and location keys for the root ``(N, 3)``.

    Returns the number of F-Curves written.
    """
    count = 0
    for j, name in enumerate(bone_names):
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        for axis in range(4):
            write_curve(new_fcurve(f"{path}.rotation_quaternion", axis, name), frames, quats[:, j, axis])
            count += 1
        if j == 0:
            for axis in range(3):
                write_curve(new_fcurve(f"{path}.location", axis, name), frames, root_location[:, axis])
                count += 1
    return count
