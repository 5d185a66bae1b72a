"""The captured body's skinned mesh: a child of the ScoreHMR armature, deformed by it through an Armature modifier.

The mesh comes from the result (``capture_result.BodyMesh``: rest vertices already shaped by the estimated betas, faces,
skinning weights per SMPL joint). Its vertices go through the same SMPL-canonical -> armature mapping and z-shift
as the bone heads (``motion.rest_to_armature``), so the rest mesh sits exactly on the rest bones and Blender's
linear blend skinning reproduces SMPL's. One vertex group per bone, named after it.
"""
from __future__ import annotations

import logging
import time
from typing import List, Optional, Sequence

import numpy as np

import bpy

from .core.capture_result import BodyMesh

log = logging.getLogger(__name__)

BODY_MARK = "scorehmr_body"
BODY_MODEL_KEY = "scorehmr_body_model"
BETAS_KEY = "scorehmr_betas"
MATERIAL_NAME = "ScoreHMR_Body"
MATERIAL_COLOR = (0.72, 0.70, 0.68, 1.0)  # a light neutral grey


def find_body(rig: bpy.types.Object) -> Optional[bpy.types.Object]:
    """The ScoreHMR body mesh deformed by ``rig`` (a child with our mark and an Armature modifier on it)."""
    for child in rig.children:
        if child.type != "MESH" or not child.get(BODY_MARK):
            continue
        if any(m.type == "ARMATURE" and m.object == rig for m in child.modifiers):
            return child
    return None


def body_matches(body: bpy.types.Object, mesh: BodyMesh) -> bool:
    """Whether an existing body mesh has the result's vertex count (then a re-capture keeps it)."""
    return len(body.data.vertices) == len(mesh.vertices)


def set_shape_properties(obj: bpy.types.Object, betas: np.ndarray, body_model: str) -> None:
    """Record the body model and the estimated betas as custom properties (shown in Object Properties)."""
    if body_model:  # schema 1 results do not name their body model
        obj[BODY_MODEL_KEY] = body_model
    obj[BETAS_KEY] = [float(b) for b in np.asarray(betas, dtype=np.float64).ravel()]


def create_body(context: bpy.types.Context, rig: bpy.types.Object, mesh: BodyMesh, rest_vertices: np.ndarray,
                bone_names: Sequence[str], betas: np.ndarray, body_model: str) -> List[bpy.types.ID]:
    """Make the skinned body for ``rig``; return the new data-blocks (object first) for the caller's rollback.

    ``rest_vertices`` ``(V, 3)`` are ``mesh.vertices`` already in armature space. On failure nothing is left.
    """
    tick = time.perf_counter()
    name = f"{rig.name}_body"
    data = bpy.data.meshes.new(name)
    created: List[bpy.types.ID] = [data]
    try:
        _fill_mesh(data, rest_vertices, mesh.faces)
        obj = bpy.data.objects.new(name, data)
        created.insert(0, obj)
        for collection in rig.users_collection or (context.collection,):
            collection.objects.link(obj)
        obj.parent = rig  # the parent inverse stays identity: vertices are in armature space
        obj[BODY_MARK] = 1
        set_shape_properties(obj, betas, body_model)
        _assign_weights(obj, bone_names, mesh.weights)
        modifier = obj.modifiers.new("Armature", "ARMATURE")
        modifier.object = rig
        modifier.use_vertex_groups, modifier.use_bone_envelopes = True, False
        material = _neutral_material(created)
        data.materials.append(material)
    except Exception:  # leave nothing half-built behind; the caller logs and reports the error
        remove_created(created)
        raise
    log.info("body mesh %s: %d vertices, %d faces, %d groups in %.3f s", name, len(mesh.vertices),
             len(mesh.faces), len(bone_names), time.perf_counter() - tick)
    return created


def _fill_mesh(data: bpy.types.Mesh, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Vertices ``(V, 3)`` and triangles ``(F, 3)`` in bulk (``foreach_set``), smooth shaded."""
    f = len(faces)
    data.vertices.add(len(vertices))
    data.vertices.foreach_set("co", np.ascontiguousarray(vertices, dtype=np.float32).ravel())
    data.loops.add(3 * f)
    data.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, dtype=np.int32).ravel())
    data.polygons.add(f)
    data.polygons.foreach_set("loop_start", np.arange(0, 3 * f, 3, dtype=np.int32))
    data.update(calc_edges=True)
    if data.validate(verbose=False):
        log.warning("the body mesh had invalid geometry (e.g. degenerate triangles); Blender repaired it")
    if hasattr(data, "shade_smooth"):  # 4.1+
        data.shade_smooth()
    else:
        data.polygons.foreach_set("use_smooth", np.ones(f, dtype=bool))


def _assign_weights(obj: bpy.types.Object, bone_names: Sequence[str], weights: np.ndarray) -> None:
    """One vertex group per bone; weights ``(V, J)`` added in batches of equal weight (zeros left out).

    ``VertexGroup.add`` takes one weight for many vertices, so each bone's vertices are sorted by weight and
    every run of equal weights is one call (rigid parts with weight 1 are a single call).
    """
    for j, bone in enumerate(bone_names):
        group = obj.vertex_groups.new(name=bone)
        column = weights[:, j]
        index = np.flatnonzero(column > 0.0)
        if index.size == 0:
            continue
        order = np.argsort(column[index], kind="stable")
        index, values = index[order], column[index][order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        ends = np.r_[starts[1:], len(values)]
        for start, end in zip(starts.tolist(), ends.tolist()):
            group.add(index[start:end].tolist(), float(values[start]), "REPLACE")


def _neutral_material(created: List[bpy.types.ID]) -> bpy.types.Material:
    """The shared neutral material (made once per file; appended to ``created`` when new)."""
    material = bpy.data.materials.get(MATERIAL_NAME)
    if material is not None and material.get(BODY_MARK) and material.library is None:
        return material
    material = bpy.data.materials.new(MATERIAL_NAME)
    created.append(material)
    material[BODY_MARK] = 1
    material.diffuse_color = MATERIAL_COLOR  # viewport and Workbench
    material.roughness, material.metallic = 0.6, 0.0
    if material.node_tree is None and hasattr(material, "use_nodes"):  # before 5.0 materials start without nodes
        material.use_nodes = True
    principled = material.node_tree.nodes.get("Principled BSDF") if material.node_tree else None
    if principled is not None:
        principled.inputs["Base Color"].default_value = MATERIAL_COLOR
        principled.inputs["Roughness"].default_value = 0.6
    return material


def remove_created(items: Sequence[bpy.types.ID]) -> None:
    """Delete data-blocks made by :func:`create_body` (object, mesh, material), objects first."""
    for item in sorted(items, key=lambda i: not isinstance(i, bpy.types.Object)):
        if isinstance(item, bpy.types.Object):
            bpy.data.objects.remove(item)
        elif isinstance(item, bpy.types.Mesh):
            bpy.data.meshes.remove(item)
        elif isinstance(item, bpy.types.Material):
            bpy.data.materials.remove(item)
