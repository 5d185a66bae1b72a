"""What the panels say, without bpy: the forward-only job progress, stage names, wrapping and the status phrases."""
from __future__ import annotations

from importlib import import_module

import pytest


@pytest.fixture(scope="module")
def ps(addon):
    return import_module(f"{addon.__name__}.core.panel_state")


@pytest.fixture(scope="module")
def protocol(addon):
    return import_module(f"{addon.__name__}.server.protocol")


def capture_events(search: bool = True, frames: int = 40, steps: int = 6):
    """A capture's progress events as the worker sends them (search only when no person boxes are given)."""
    events = [("open", 0, 1), ("open", 1, 1)]
    events += [("search", k, 5) for k in range(1, 6)] if search else []
    events += [("detect", k, frames) for k in range(1, frames + 1)]
    events += [("regress", 0, 1), ("regress", 1, 1)]
    events += [("refine", k, steps) for k in range(1, steps + 1)]
    events += [("place", 0, 1), ("place", 3, 10), ("place", 1, 1), ("write", 0, 1), ("write", 1, 1)]
    return events


@pytest.mark.parametrize("search", [True, False])
def test_capture_progress_only_moves_forwards(ps, search):
    job = ps.JobProgress("capture")
    shown = [job.update(*event) for event in capture_events(search)]
    assert all(b >= a for a, b in zip(shown, shown[1:])), shown
    assert shown[0] == 0.0 and shown[-1] == pytest.approx(1.0)
    assert all(0.0 <= f <= 1.0 for f in shown)


def test_people_search_does_not_send_the_bar_back(ps):
    """The people search comes after the footage is opened: it continues the bar, it does not restart it."""
    job = ps.JobProgress("capture")
    job.update("open", 1, 1)
    before = job.fraction
    job.update("search", 1, 30)
    assert job.fraction >= before and job.label == "Finding people 1/30"
    job.update("detect", 40, 230)
    at_detect = job.fraction
    job.update("search", 2, 30)   # multi-view: a late search report while other views are detected already
    assert job.fraction == at_detect and job.label == "Finding people 2/30"


def test_unknown_stage_keeps_the_bar(ps):
    job = ps.JobProgress("people")
    job.update("search", 10, 20)
    value = job.fraction
    assert job.update("mystery", 1, 1) == value and job.label == "Mystery"


def test_find_people_uses_the_search_stage(ps, protocol):
    assert protocol.KIND_STAGES["people"] == ("open", "search", "write")
    assert protocol.KIND_STAGES["capture"].index("search") == protocol.KIND_STAGES["capture"].index("open") + 1
    assert protocol.PROTOCOL_VERSION >= 6   # 6 brought the search stage
    job = ps.JobProgress("people")
    shown = [job.update("open", 1, 1)] + [job.update("search", k, 50) for k in range(51)]
    assert shown[0] < 0.05 and shown[-1] > 0.9 and all(b >= a for a, b in zip(shown, shown[1:]))


def test_every_stage_has_a_name_of_its_own(ps, protocol):
    names = [ps.STAGE_TEXT[s] for s in protocol.STAGES]
    assert len(set(names)) == len(names)
    assert ps.stage_label("search", 3, 30) == "Finding people 3/30"
    assert ps.stage_label("open", 0, 1) == "Opening the footage"
    assert ps.overall_progress("capture", "nope", 1, 2) is None


def test_every_kind_has_a_panel(ps, protocol):
    assert {ps.panel_of(kind) for kind in protocol.KIND_STAGES} <= set(ps.PANELS)
    assert ps.panel_of("cleanup") == ps.panel_of("import_motion") == "motion"
    assert ps.panel_of("people") == ps.panel_of("capture") == "capture"


@pytest.mark.parametrize("width,scale", [(250, 1.0), (400, 1.0), (500, 2.0), (120, 1.0)])
def test_chars_per_line_follows_width_and_scale(ps, width, scale):
    chars = ps.chars_per_line(width, scale)
    assert chars >= ps.MIN_CHARS
    if width > 200:
        assert chars * ps.CHAR_PIXELS * scale <= width
    assert ps.chars_per_line(width * 2, scale) > chars


def test_wrap_status_keeps_the_important_part_first(ps):
    text = ("Keyed ScoreHMR_Armature.001 (Person 2); camera 0.13 m below the ground; "
            "Person 2 crosses Person 1 in frames 120-140: check them")
    lines = ps.wrap_status(text, 30)
    assert lines[0] == "Keyed ScoreHMR_Armature.001"
    assert all(len(line) <= 30 for line in lines)
    assert "camera 0.13 m below the ground" in lines
    assert " ".join(lines).replace("  ", " ") == text.replace("; ", " ")


def test_wrap_status_splits_a_long_path_after_its_slashes(ps):
    path = "/home/animator/projects/take_042_final.mp4"
    lines = ps.wrap_status(f"Cannot read {path} for reading", 25)
    assert lines == ["Cannot read /home/", "animator/projects/", "take_042_final.mp4 for", "reading"]
    long = "/home/" + "x" * 80 + "/footage.mp4"
    lines = ps.wrap_status(long, 25)
    assert all(len(line) <= 25 for line in lines) and "".join(lines) == long
    assert ps.wrap_status("", 25) == [] and ps.wrap_status("a  b", 25) == ["a b"]


@pytest.mark.parametrize("height,text", [(1.5, "camera 1.50 m above the ground"),
                                         (-0.13, "camera 0.13 m below the ground"),
                                         (0.0, "camera 0.00 m above the ground")])
def test_camera_height_text(ps, height, text):
    assert ps.camera_height_text(height) == text


def test_join_status_drops_empty_parts(ps):
    assert ps.join_status(["Keyed A", "", "camera 1.00 m above the ground"]) == \
        "Keyed A; camera 1.00 m above the ground"
