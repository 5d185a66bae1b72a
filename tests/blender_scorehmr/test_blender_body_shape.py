"""The Body Shape sliders in bpy: shape keys on the body, bones following, the panel, reset, results without them.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import fake_result
from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)
from test_blender_body_mesh import _evaluated_vertices

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


def _import(bl, tmp_path, arrays, name="shaped"):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    assert bl.bpy.ops.scorehmr.import_results(filepath=str(path), match_camera=False, scene_start=1) == {"FINISHED"}
    return bl.bpy.data.objects[f"ScoreHMR_{name}"]


def _heads(obj, names):
    return np.array([tuple(obj.data.bones[n].head_local) for n in names])


def test_import_gives_the_body_its_sliders(bl, tmp_path):
    obj = _import(bl, tmp_path, fake_result.with_sliders(fake_result.make_result(range(12))))
    body = bl.sub("body_mesh").find_body(obj)
    keys = body.data.shape_keys.key_blocks
    assert [k.name for k in keys] == ["Basis", "ScoreHMR Gender", "ScoreHMR Height", "ScoreHMR Weight",
                                      "ScoreHMR Muscle"]
    assert all(k.value == 0.0 for k in keys[1:])
    got = [getattr(obj.scorehmr_shape, n) for n in ("gender", "height", "weight", "muscle")]
    np.testing.assert_allclose(got, fake_result.SLIDER_VALUES, atol=1e-6)


def test_sliders_reshape_mesh_and_bones_and_reset(bl, tmp_path):
    """A taller, wider body: the shape keys and the bone heads are the result's body with the sliders' change (feet
    on the same ground); the posed mesh skins as that body would; Reset puts everything back."""
    b = bl.bpy
    arrays = fake_result.with_sliders(fake_result.make_result(range(12)))
    obj = _import(bl, tmp_path, arrays)
    names = [str(n) for n in arrays["joint_names"]]
    body = bl.sub("body_mesh").find_body(obj)
    shape = bl.sub("core.body_shape")
    result = bl.sub("core.capture_result").load_result(tmp_path / "shaped.npz")
    heads_before = _heads(obj, names)
    b.context.scene.frame_set(4)
    posed_before = _evaluated_vertices(b, body)
    obj.scorehmr_shape.height = 1.95
    obj.scorehmr_shape.weight = 0.8
    values = np.array(fake_result.SLIDER_VALUES) + [0.0, 0.2, 0.3, 0.0]
    lowest = shape.lowest_joint(result.joints_rest)
    np.testing.assert_allclose(_heads(obj, names), shape.shaped_rest(result.joints_rest, result.shape, values, lowest),
                               atol=1e-5)
    assert _heads(obj, names)[:, 2].min() == pytest.approx(0.0, abs=1e-6)        # still standing at z = 0
    assert np.ptp(_heads(obj, names)[:, 2]) > np.ptp(heads_before[:, 2]) * 1.1   # taller
    keys = body.data.shape_keys.key_blocks
    assert keys["ScoreHMR Height"].value == pytest.approx(0.2) and keys["ScoreHMR Weight"].value == pytest.approx(0.3)
    b.context.scene.frame_set(4)
    assert np.abs(_evaluated_vertices(b, body) - posed_before).max() > 0.05
    assert b.ops.scorehmr.body_shape_reset() == {"FINISHED"}
    np.testing.assert_allclose(_heads(obj, names), heads_before, atol=1e-6)
    assert all(k.value == 0.0 for k in keys[1:])
    b.context.scene.frame_set(4)
    np.testing.assert_allclose(_evaluated_vertices(b, body), posed_before, atol=1e-5)


def test_slid_body_skins_like_the_reshaped_result(bl, tmp_path):
    """The posed mesh with the sliders moved == the same capture imported with its mesh and joints already made
    that shape (up to where the root stands)."""
    b = bl.bpy
    arrays = fake_result.with_sliders(fake_result.make_result(range(12)))
    obj = _import(bl, tmp_path, arrays)
    change = np.array([0.1, 0.15, -0.2, 0.3])
    for name, value in zip(("gender", "height", "weight", "muscle"), np.array(fake_result.SLIDER_VALUES) + change):
        setattr(obj.scorehmr_shape, name, float(value))
    reshaped = dict(arrays)
    reshaped["mesh_vertices"] = arrays["mesh_vertices"] + np.einsum("s,svc->vc", change, arrays["shape_vertex_dirs"])
    reshaped["joints_rest"] = arrays["joints_rest"] + np.einsum("s,sjc->jc", change, arrays["shape_joint_dirs"])
    other = _import(bl, tmp_path, {k: v for k, v in reshaped.items() if not k.startswith("shape_")}, "reference")
    for frame in (1, 6, 12):
        b.context.scene.frame_set(frame)
        got = _evaluated_vertices(b, bl.sub("body_mesh").find_body(obj))
        want = _evaluated_vertices(b, bl.sub("body_mesh").find_body(other))
        np.testing.assert_allclose(got - got.mean(0), want - want.mean(0), atol=1e-4)


def _drawn(bl):
    from test_blender_panel_states import Recorder
    drawn = []
    owner = type("P", (), {"layout": Recorder(bl.bpy, drawn)})()
    bl.bpy.types.SCOREHMR_PT_body.draw(owner, bl.bpy.context)
    return [(d.kind, d.text) for d in drawn]


def test_panel_for_the_rig_its_body_and_a_capture_without_sliders(bl, tmp_path):
    b = bl.bpy
    sliders = bl.sub("body_sliders")
    b.context.view_layer.objects.active = None
    assert ("label", "Select a captured armature or body") in _drawn(bl)
    obj = _import(bl, tmp_path, fake_result.with_sliders(fake_result.make_result(range(12))))
    plain = _import(bl, tmp_path, fake_result.make_result(range(12)), "plain")
    assert sliders.shaped_rig(b.context) == plain and sliders.stored(plain) is None
    assert ("label", "This capture has no shape sliders") in _drawn(bl)
    assert not sliders.SCOREHMR_OT_body_shape_reset.poll(b.context)
    b.context.view_layer.objects.active = sliders.body_mesh.find_body(obj)
    assert sliders.shaped_rig(b.context) == obj and sliders.SCOREHMR_OT_body_shape_reset.poll(b.context)
    drawn = _drawn(bl)
    assert [t for k, t in drawn if k == "prop"] == ["gender", "height", "weight", "muscle", "body_height"]
    assert ("operator", "scorehmr.body_shape_reset") in drawn


def test_a_bone_edit_elsewhere_leaves_the_bones(bl, tmp_path):
    """While another object is in edit mode the sliders still set the shape keys; the bones follow later."""
    b = bl.bpy
    obj = _import(bl, tmp_path, fake_result.with_sliders(fake_result.make_result(range(12))))
    names = str(obj["scorehmr_joint_names"]).split(",")
    heads = _heads(obj, names)
    body = bl.sub("body_mesh").find_body(obj)
    b.context.view_layer.objects.active = body
    b.ops.object.mode_set(mode="EDIT")
    try:
        obj.scorehmr_shape.height = 1.9
        np.testing.assert_allclose(_heads(obj, names), heads)
        assert b.context.object == body and b.context.mode == "EDIT_MESH"
    finally:
        b.ops.object.mode_set(mode="OBJECT")
    assert body.data.shape_keys.key_blocks["ScoreHMR Height"].value == pytest.approx(0.15)
    b.context.view_layer.objects.active = obj
    obj.scorehmr_shape.height = 1.9 + 1e-6   # any later change brings the bones along
    assert not np.allclose(_heads(obj, names), heads)


def test_a_hidden_armature_follows_too(bl, tmp_path):
    b = bl.bpy
    obj = _import(bl, tmp_path, fake_result.with_sliders(fake_result.make_result(range(12))))
    names = str(obj["scorehmr_joint_names"]).split(",")
    heads = _heads(obj, names)
    obj.hide_set(True)
    obj.scorehmr_shape.weight = 0.9
    assert bl.sub("body_mesh").find_body(obj).data.shape_keys.key_blocks["ScoreHMR Weight"].value == pytest.approx(0.4)
    assert np.abs(_heads(obj, names) - heads).max() > 0.01 and b.context.mode == "OBJECT" and obj.hide_get()
