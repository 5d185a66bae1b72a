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
        assert set(preset) <= set(maps.SMPL_JOINTS) and len(set(preset.values())) == len(preset)
    assert maps.missing_bones({"left_wrist": "hand.L", "pelvis": "spine", "head": "x"}, ["hand.L"]) == ["spine", "x"]
    assert maps.clean_mapping([("pelvis", " hips "), ("head", ""), ("pelvis", "Hips")]) == {"pelvis": "Hips"}
