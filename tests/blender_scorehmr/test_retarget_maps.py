"""The retarget bone maps (pure Python, no bpy)."""
from __future__ import annotations

from importlib import import_module


def test_presets_and_missing_bones(addon):
    maps = import_module(f"{addon.__name__}.core.retarget_maps")
    mixamo = maps.resolve("MIXAMO", ["mixamorig1:Hips", "mixamorig1:Spine"])
    assert mixamo["pelvis"] == "mixamorig1:Hips" and mixamo["left_wrist"] == "mixamorig1:LeftHand"
    assert maps.resolve("MIXAMO", ["Hips"])["head"] == "Head"
    assert maps.resolve("MIXAMO", [])["pelvis"] == "mixamorig:Hips"
    assert maps.RIGIFY["left_knee"] == "shin_fk.L" and maps.METARIG["right_elbow"] == "forearm.R"
    for preset in maps.PRESETS.values():
        assert set(preset) <= set(maps.ALL_JOINTS) and len(set(preset.values())) == len(preset)
        assert set(maps.FINGER_JOINTS) <= set(preset)                     # every preset maps the fingers
    assert maps.missing_bones({"left_wrist": "hand.L", "pelvis": "spine", "head": "x"}, ["hand.L"]) == ["spine", "x"]
    assert maps.clean_mapping([("pelvis", " hips "), ("head", ""), ("pelvis", "Hips")]) == {"pelvis": "Hips"}


def test_fingers_are_mapped_only_where_both_armatures_have_them(addon):
    maps = import_module(f"{addon.__name__}.core.retarget_maps")
    assert maps.RIGIFY["left_index1"] == "f_index.01.L" and maps.METARIG["right_thumb3"] == "thumb.03.R"
    assert maps.MIXAMO["left_pinky2"] == "LeftHandPinky2" and maps.MIXAMO["right_thumb1"] == "RightHandThumb1"
    mapping = {"pelvis": "Hips", "left_index1": "LeftHandIndex1", "left_index2": "LeftHandIndex2"}
    source = ["pelvis", "left_index1", "left_index2"]
    assert maps.usable(mapping, source, ["Hips", "LeftHandIndex1"]) == {"pelvis": "Hips",
                                                                          "left_index1": "LeftHandIndex1"}
    assert maps.usable(mapping, ["pelvis"], ["LeftHandIndex1", "LeftHandIndex2"]) == {"pelvis": "Hips"}
    assert maps.usable(mapping, [], []) == {"pelvis": "Hips"}    # the body's joints stay, checked later
