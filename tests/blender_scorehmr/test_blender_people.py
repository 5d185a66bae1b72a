"""Find People inside bpy with the fake worker: the list, the pick reaching the capture, a stale list ignored."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from test_blender_addon import _Layout, bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


def _submitted(bl) -> dict:
    """The Submit of the last capture, as the fake worker kept it in the job folder."""
    return json.loads((Path(bl.last_report()["result_path"]).parent / "submit.json").read_text())


class _ListLayout(_Layout):
    def template_list(self, listtype, *args, **kwargs):
        self.calls.append(("template_list", listtype))


def _draw(bl) -> list:
    calls = []
    panel = type("P", (), {"layout": _ListLayout(bl.bpy, calls)})()
    bl.bpy.types.SCOREHMR_PT_capture.draw(panel, bl.bpy.context)
    return calls


def test_find_people_then_capture_the_chosen_one(bl, fake_pythons, fake_video):
    b = bl.bpy
    settings = b.context.scene.scorehmr
    settings.people.clear()
    bl.configure(fake_pythons("ok"), fake_video, start=3, end=11)
    assert ("operator", "scorehmr.find_people") in _draw(bl)
    bl.capture(fake_pythons("ok"), fake_video, start=3, end=11)
    assert _submitted(bl)["person"] == -1 and _submitted(bl)["person_boxes"] == [], "never searched: the default"

    assert b.ops.scorehmr.find_people() == {"FINISHED"}
    assert [p.track_id for p in settings.people] == [1, 2] and settings.people_index == 0
    first, second = settings.people
    assert (first.first_frame, first.last_frame, second.first_frame) == (2, 10, 6)
    assert bl.sub("panels").person_label(first) == "Person 1: frames 3-11, seen 100%"
    assert second.crossing.startswith("Crosses Person 1 at frames 10-11")
    calls = _draw(bl)
    assert ("template_list", "SCOREHMR_UL_people") in calls

    settings.people_index = 1
    bl.capture(fake_pythons("ok"), fake_video, start=3, end=11)
    sent = _submitted(bl)
    assert sent["person"] == 2 and sent["person_boxes"] == [[6, 300, 20, 350, 200], [10, 20, 20, 70, 200]]
    assert "Crosses Person 1" in bl.status().stage

    bl.capture(fake_pythons("ok"), fake_video, start=4, end=11)   # another range: the list is ignored
    assert _submitted(bl)["person"] == -1
    assert any("Find People again" in str(c) for c in _draw(bl))
    settings.people.clear()


def test_one_person_lists_no_choice(bl, fake_pythons, fake_video):
    b = bl.bpy
    settings = b.context.scene.scorehmr
    bl.configure(fake_pythons("ok"), fake_video)
    assert b.ops.scorehmr.find_people() == {"FINISHED"}
    settings.people.remove(1)
    calls = _draw(bl)
    assert ("template_list", "SCOREHMR_UL_people") not in calls
    assert ("label", "Person 1: frames 1-12, seen 100%") in calls
    bl.capture(fake_pythons("ok"), fake_video)
    assert _submitted(bl)["person"] == -1, "one person: the worker's default"
    settings.people.clear()


def test_find_people_failure_keeps_the_list(bl, fake_pythons, fake_video, tmp_path):
    b = bl.bpy
    settings = b.context.scene.scorehmr
    bl.configure(fake_pythons("ok"), fake_video)
    assert b.ops.scorehmr.find_people() == {"FINISHED"} and len(settings.people) == 2
    bl.configure(fake_pythons("no_person"), fake_video)
    try:
        outcome = b.ops.scorehmr.find_people()
    except RuntimeError:   # Blender raises on an operator's ERROR report
        outcome = {"CANCELLED"}
    assert outcome == {"CANCELLED"}
    assert len(settings.people) == 2 and bl.status().error_code == "no_person"
    settings.people.clear()
