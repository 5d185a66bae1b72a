"""The skinned body mesh in bpy: vertex groups, Armature modifier, deformation == SMPL linear blend skinning,
the Body Mesh option, schema 1 results, re-capture, bad meshes and rollback.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import fake_result
from blender_support import _action_fcurves, scene_snapshot
from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


def _bodies(b):
    return [o for o in b.data.objects if o.type == "MESH"]


def _group_weights(body, bone_names) -> np.ndarray:
    """The mesh's vertex-group weights as a dense ``(V, J)`` array, columns in ``bone_names`` order."""
    column = {group.index: bone_names.index(group.name) for group in body.vertex_groups}
    out = np.zeros((len(body.data.vertices), len(bone_names)), dtype=np.float32)
    for vertex in body.data.vertices:
        for element in vertex.groups:
            out[vertex.index, column[element.group]] = element.weight
    return out


def _evaluated_vertices(b, body) -> np.ndarray:
    """World positions ``(V, 3)`` of the depsgraph-evaluated (deformed) body."""
    evaluated = body.evaluated_get(b.context.evaluated_depsgraph_get())
    co = np.empty(3 * len(evaluated.data.vertices), dtype=np.float32)
    evaluated.data.vertices.foreach_get("co", co)
    matrix = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3).astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def smpl_lbs_world(motion, rot, result) -> np.ndarray:
    """SMPL linear blend skinning of the result's rest mesh, in the camera frame, mapped to Blender world.

    Posed vertex = sum_j w_j (G_j (x - J_j) + P_j) with G_j the global rotation and P_j the posed joint (camera
    frame); then (x, z, -y) and the capture's re-centring (frame one's pelvis above the origin). ``(N, V, 3)``.
    """
    glob = motion.global_rotations(result.poses, result.parents)     # (N, J, 3, 3)
    joints, parents = result.joints_rest, result.parents
    posed = np.empty(glob.shape[:2] + (3,))
    posed[:, 0] = result.transl + joints[0]
    for j in range(1, len(parents)):
        posed[:, j] = posed[:, parents[j]] + glob[:, parents[j]] @ (joints[j] - joints[parents[j]])
    rel = result.mesh.vertices[:, None, :] - joints[None]             # (V, J, 3)
    per_joint = np.einsum("njab,vjb->nvja", glob, rel) + posed[:, None]
    cam = np.einsum("vj,nvja->nva", result.mesh.weights.astype(np.float64), per_joint)
    rest_pelvis_z = motion.rest_heads_armature(joints)[0, 2]
    offset = posed[0, 0] @ rot.CAMERA_TO_WORLD.T - np.array([0.0, 0.0, rest_pelvis_z])
    return cam @ rot.CAMERA_TO_WORLD.T - offset


def test_capture_makes_the_skinned_body(bl, fake_pythons, fake_video):
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video)
    result = bl.sub("core.capture_result").load_result(Path(bl.last_report()["result_path"]))
    bodies = _bodies(b)
    assert len(bodies) == 1 and bl.last_report()["body"] == bodies[0].name
    body = bodies[0]
    assert body.name == f"{obj.name}_body" and body.parent == obj and b.context.view_layer.objects.active == obj
    names = list(result.joint_names)
    assert sorted(g.name for g in body.vertex_groups) == sorted(names)
    np.testing.assert_allclose(_group_weights(body, names), result.mesh.weights, atol=1e-6)
    armature_mods = [m for m in body.modifiers if m.type == "ARMATURE"]
    assert len(armature_mods) == 1 and armature_mods[0].object == obj and armature_mods[0].use_vertex_groups
    assert len(body.data.polygons) == len(result.mesh.faces)
    assert all(p.use_smooth for p in body.data.polygons)
    assert body.active_material is not None and body.active_material.name == "ScoreHMR_Body"
    for holder in (body, obj):
        assert holder["scorehmr_body_model"] == "open_body_neutral"
        np.testing.assert_allclose(list(holder["scorehmr_betas"]), result.betas, atol=1e-6)
    co = np.array([tuple(v.co) for v in body.data.vertices])
    expected = bl.sub("core.capture_result").rest_to_armature(result.mesh.vertices, result.joints_rest)
    np.testing.assert_allclose(co, expected, atol=1e-6)


def test_body_deforms_like_smpl_skinning(bl, fake_pythons, fake_video):
    """Depsgraph-evaluated vertices == numpy SMPL LBS of the same result mapped to Blender world (1e-4 m)."""
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video)
    result = bl.sub("core.capture_result").load_result(Path(bl.last_report()["result_path"]))
    body = bl.sub("body_mesh").find_body(obj)
    expected = smpl_lbs_world(bl.sub("core.capture_result"), bl.sub("core.blender_frames"), result)
    for i in (0, 3, len(result.frame_indices) - 1):
        b.context.scene.frame_set(int(result.frame_indices[i]) + 1)
        got = _evaluated_vertices(b, body)
        np.testing.assert_allclose(got, expected[i], atol=1e-4)
    assert np.abs(expected[-1] - expected[0]).max() > 0.1  # the pose really changed between the frames


def test_body_mesh_option_off(bl, fake_pythons, fake_video):
    b = bl.bpy
    b.context.scene.scorehmr.body_mesh = False
    obj = bl.capture(fake_pythons("ok"), fake_video)
    assert obj.type == "ARMATURE" and _bodies(b) == [] and len(b.data.meshes) == 0
    assert bl.last_report()["body"] == "" and obj["scorehmr_body_model"] == "open_body_neutral"


def test_schema1_result_makes_the_armature_only(bl, fake_pythons, fake_video):
    b = bl.bpy
    obj = bl.capture(fake_pythons("schema1"), fake_video)
    assert obj.type == "ARMATURE" and _bodies(b) == [] and "scorehmr_body_model" not in obj
    assert len(list(_action_fcurves(obj.animation_data.action))) == 24 * 4 + 3


def test_recapture_keeps_or_remakes_the_body(bl, fake_pythons, fake_video):
    """A re-capture onto the rig keeps its body; one the user deleted is made again."""
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video)
    body = _bodies(b)[0]
    body.location.x = 0.5  # the user's edit survives
    assert bl.capture(fake_pythons("ok"), fake_video) == obj
    assert _bodies(b) == [body] and body.location.x == 0.5 and len(b.data.meshes) == 1
    b.data.objects.remove(body)
    b.context.view_layer.objects.active = obj
    assert bl.capture(fake_pythons("ok"), fake_video) == obj
    bodies = _bodies(b)
    assert len(bodies) == 1 and bodies[0].parent == obj and len(b.data.materials) == 1
    assert len(obj.animation_data.action.name) and len([a for a in b.data.actions if a.use_fake_user]) == 2


@pytest.mark.parametrize("where", ["weights", "keys"])
def test_failure_removes_the_body(bl, fake_pythons, fake_video, monkeypatch, where):
    """A failure while building the mesh or keying after it leaves no mesh, material or armature behind."""
    b = bl.bpy
    before = scene_snapshot(b)
    module = bl.sub("body_mesh") if where == "weights" else bl.sub("keyframes")

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(module, "_assign_weights" if where == "weights" else "write_pose_keys", broken)
    with pytest.raises(RuntimeError, match="simulated failure"):
        bl.capture(fake_pythons("ok"), fake_video)
    assert bl.status().error_code == "internal"
    assert scene_snapshot(b) == before and len(b.data.meshes) == 0 and len(b.data.materials) == 0


def test_recapture_failure_keeps_the_rig_body(bl, fake_pythons, fake_video, monkeypatch):
    """Rolling back a re-capture that remade a deleted body removes only the new body."""
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video)
    b.data.objects.remove(_bodies(b)[0])
    b.context.view_layer.objects.active = obj
    before = scene_snapshot(b)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(bl.sub("keyframes"), "write_pose_keys", broken)
    with pytest.raises(RuntimeError):
        bl.capture(fake_pythons("ok"), fake_video)
    assert scene_snapshot(b) == before and _bodies(b) == []


def test_fake_body_covers_every_bone():
    verts, faces, weights = fake_result.make_body_mesh()
    assert (weights > 0).any(axis=0).all() and np.allclose(weights.sum(axis=1), 1.0)
    assert faces.max() == len(verts) - 1
