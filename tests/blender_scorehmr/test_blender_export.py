"""Export BVH / FBX of a retargeted rig through the panel's operator and import them back into Blender.

Tolerance: hands, feet and hips within ``EXPORT_TOL`` (0.1 mm; measured 1.3e-6 m FBX in centimetres, 5.8e-7 m BVH
at scale 100) of the exported rig at two frames, with the same frame range and frame rate.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)
from test_blender_cleanup import make_rig
from test_blender_retarget import FRAMES, make_mixamo, rt_settings, world_heads  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]

EXPORT_FRAMES = (3, 8)
EXPORT_TOL = 1e-4    # metres, after an export / import round trip (measured < 1e-6)


@pytest.fixture
def import_into(bl):
    """``import_into(op, **kwargs)`` runs importer ``op`` with a fresh collection active (the importer links its
    objects there) and returns the one armature it made; the collection is removed after the test."""
    b = bl.bpy
    layer, made = b.context.view_layer, []

    def run(op, **kwargs):
        coll = b.data.collections.new("Imported")
        made.append(coll)
        b.context.scene.collection.children.link(coll)
        layer.active_layer_collection = layer.layer_collection.children[coll.name]
        try:
            assert op(**kwargs) == {"FINISHED"}
        finally:
            layer.active_layer_collection = layer.layer_collection
        arms = [o for o in coll.objects if o.type == "ARMATURE"]
        assert len(arms) == 1, [o.name for o in coll.objects]
        assert arms[0].animation_data is not None and arms[0].animation_data.action is not None
        return arms[0]
    yield run
    for coll in made:
        b.data.collections.remove(coll)


def exported_mixamo(bl, tmp_path, fmt, transform=None, **kwargs):
    """A Mixamo rig with a retargeted action (frames 1-10), given the object ``transform`` (location, rotation,
    scale) if any, exported by ``scorehmr.export_motion`` at 24 fps, and the file. The scene's frame rate is then
    set to 30 (importers must bring 24 back)."""
    b = bl.bpy
    source = make_rig(bl)
    target = make_mixamo(bl)
    rt, maps = bl.sub("retarget"), bl.sub("core.retarget_maps")
    rt.retarget(b.context, source, target, maps.resolve("MIXAMO", [x.name for x in target.data.bones]), FRAMES)
    scene = b.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 24, 1, 100
    if transform is not None:
        target.location, target.rotation_euler, target.scale = transform
    b.context.view_layer.objects.active = target
    path = tmp_path / f"walk.{fmt.lower()}"
    assert b.ops.scorehmr.export_motion(filepath=str(path.with_suffix("")), format=fmt, **kwargs) == {"FINISHED"}
    assert path.is_file()
    assert (scene.frame_start, scene.frame_end) == (1, 100) and b.context.view_layer.objects.active == target
    scene.render.fps = 30
    return target, path


def assert_same_motion(bl, exported, imported):
    """The imported armature's action spans the exported one's frames, and its hands, feet and hips are where the
    exported rig's are (world space, metres) at EXPORT_FRAMES within EXPORT_TOL; returns the worst error."""
    assert imported != exported
    assert tuple(imported.animation_data.action.frame_range) == tuple(exported.animation_data.action.frame_range)
    assert tuple(imported.animation_data.action.frame_range) == (1.0, 10.0)
    names = [f"mixamorig:{n}" for n in ("LeftHand", "RightHand", "LeftFoot", "RightFoot", "Hips")]
    want = world_heads(bl, exported, names, EXPORT_FRAMES)
    got = world_heads(bl, imported, names, EXPORT_FRAMES)
    assert np.linalg.norm(want[1] - want[0], axis=-1).min() > 0.01   # the two frames differ: a real check
    error = float(np.linalg.norm(got - want, axis=-1).max())
    assert error < EXPORT_TOL, error
    return error


def fbx_properties(path, element, name=None):
    """``{property name: values}`` of the Properties70 of the first top-level (``GlobalSettings``) or object
    (``Model`` named ``name``) element ``element`` of a binary FBX file (Blender's own FBX parser)."""
    from io_scene_fbx import parse_fbx
    root, _version = parse_fbx.parse(str(path))
    elems = [e for e in root.elems if e.id == element]
    if name is not None:
        objects = next(e for e in root.elems if e.id == b"Objects")
        elems = [e for e in objects.elems if e.id == element and e.props[1].split(b"\x00")[0] == name]
    props = next(e for e in elems[0].elems if e.id == b"Properties70")
    return {p.props[0]: list(p.props[4:]) for p in props.elems}


def test_export_fbx_round_trip(bl, rt_settings, import_into, tmp_path):
    """FBX written in centimetres (UnitScaleFactor 1; the rig's 0.5 m x offset is 50 units) imports back in metres,
    with the frame rate, the frame range, and the hands and feet where they were (the rig moved, turned and
    scaled as an object too)."""
    b = bl.bpy
    target, path = exported_mixamo(bl, tmp_path, "FBX", ((0.5, -0.2, 0.1), (0.0, 0.0, 0.7), (1.5, 1.5, 1.5)))
    settings, rig_node = fbx_properties(path, b"GlobalSettings"), fbx_properties(path, b"Model", b"Mixamo")
    assert settings[b"UnitScaleFactor"] == [1.0]                      # the file's unit is the centimetre
    np.testing.assert_allclose(rig_node[b"Lcl Translation"], [50.0, 10.0, 20.0], atol=1e-4)  # (x, z, -y) * 100
    # Blender's exporter writes frame f at time f / fps; its importer adds anim_offset (default 1 frame) to the
    # file's times, so the default re-import into Blender lands one frame late: 0 is the exact inverse.
    imported = import_into(b.ops.import_scene.fbx, filepath=str(path), anim_offset=0.0)
    assert (b.context.scene.render.fps, b.context.scene.render.fps_base) == (24, 1.0)
    assert_same_motion(bl, target, imported)


def test_export_bvh_round_trip(bl, rt_settings, import_into, tmp_path):
    """BVH in centimetres (scale 100) imports back (scale 0.01, Blender's axes: the exporter writes the armature's
    own Z-up space) with the frame count, the frame rate, and the hands and feet where they were."""
    b = bl.bpy
    target, path = exported_mixamo(bl, tmp_path, "BVH", bvh_scale=100.0)
    text = path.read_text()
    assert "ROOT mixamorig:Hips" in text and "Frames: 10\n" in text and f"Frame Time: {1 / 24:.6f}" in text
    offsets = [line.split()[1:] for line in text.splitlines() if line.strip().startswith("OFFSET")]
    assert max(abs(float(v)) for o in offsets for v in o) > 30.0         # centimetres with scale 100
    imported = import_into(b.ops.import_anim.bvh, filepath=str(path), global_scale=0.01, frame_start=1,
                           use_fps_scale=False, update_scene_fps=True, update_scene_duration=False,
                           axis_forward="Y", axis_up="Z")
    scene = b.context.scene
    # Frame Time has 6 decimals (0.041667 s): Blender reads back 24 fps with fps_base 1.000008
    assert scene.render.fps == 24 and abs(scene.render.fps_base - 1.0) < 1e-4
    assert_same_motion(bl, target, imported)
    b.context.view_layer.objects.active = None
    rt_settings.retarget_target = None
    with pytest.raises(RuntimeError, match="No armature"):
        b.ops.scorehmr.export_motion(filepath=str(path), format="BVH")


@pytest.mark.parametrize("fmt", ["BVH", "FBX"])
def test_export_dialog_offers_the_armatures_name(bl, tmp_path, fmt):
    """The export dialog offers ``<armature name>.bvh`` (``.fbx``), the name made safe, in the last export's folder
    (or beside the .blend file), never "untitled"; with no armature it leaves the path alone."""
    b = bl.bpy
    ops = bl.sub("operators_retarget")
    rig = make_rig(bl)
    rig.name = "Jump take: 2/3"
    b.context.view_layer.objects.active = rig
    assert ops.export_file_name(rig.name, fmt) == f"Jump_take__2_3.{fmt.lower()}"
    last = str(tmp_path / "exports" / "ScoreHMR_walk.bvh")
    offered = str(tmp_path / "exports" / f"Jump_take__2_3.{fmt.lower()}")
    assert ops.default_export_path(b.context, last, fmt) == offered
    assert ops.default_export_path(b.context, "", fmt) == f"Jump_take__2_3.{fmt.lower()}"   # .blend not saved
    dialogs = []
    stand_in = SimpleNamespace(filepath="", format=fmt, filename_ext=".bvh")
    context = SimpleNamespace(view_layer=b.context.view_layer, scene=b.context.scene, blend_data=b.data,
                              window_manager=SimpleNamespace(fileselect_add=lambda op: dialogs.append(op.filepath)))
    assert ops.SCOREHMR_OT_export_motion.invoke(stand_in, context, None) == {"RUNNING_MODAL"}
    assert dialogs == [f"Jump_take__2_3.{fmt.lower()}"]   # headless Blender runs no dialog: invoke called directly
    b.context.view_layer.objects.active = None
    assert ops.default_export_path(b.context, last, fmt) == last


def test_export_without_a_file_name_is_refused(bl, tmp_path, monkeypatch):
    b = bl.bpy
    rig = make_rig(bl)
    b.context.view_layer.objects.active = rig
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="No file to export to"):
        b.ops.scorehmr.export_motion(filepath="", format="BVH")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["BVH", "FBX"])
def test_export_carries_the_finger_bones(bl, rt_settings, tmp_path, fmt):
    """A capture with fingers exported as it is: the file holds the 30 finger bones (BVH: a JOINT each, keyed over
    the frames; FBX: a bone node each)."""
    from blender_support import import_fingered

    b = bl.bpy
    b.context.view_layer.objects.active = import_fingered(bl, tmp_path, frames=range(0, 10))
    path = tmp_path / f"hands.{fmt.lower()}"
    assert b.ops.scorehmr.export_motion(filepath=str(path), format=fmt) == {"FINISHED"}
    data = path.read_bytes()
    for name in ("left_index1", "left_index3", "right_thumb2", "right_pinky3"):
        assert name.encode() in data, name
    if fmt == "BVH":
        assert b"JOINT left_middle2" in data and b"Frames: 10" in data
