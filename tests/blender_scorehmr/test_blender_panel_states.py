"""The panels as an animator sees them in each job state (bpy headless): each panel's draw() and header drawn into a
recording layout while a scripted job runs, is cancelled, fails and succeeds."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

import pytest

from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]

PANELS = {"capture": "SCOREHMR_PT_capture", "motion": "SCOREHMR_PT_motion", "retarget": "SCOREHMR_PT_retarget"}
LONG_ERROR = ("The worker stopped unexpectedly (exit code 1). RuntimeError: could not open the file "
              "/home/animator/projects/a-very-long-project-name/footage/take_042_final_final.mp4 for reading")


@dataclass
class Drawn:
    """One drawn element: ``kind`` (label, operator, prop, progress, ...), its text, icon, and whether it is
    enabled (its own and every enclosing layout's ``enabled``)."""

    kind: str
    text: str = ""
    icon: str = "NONE"
    enabled: bool = True
    factor: Optional[float] = None


class Recorder:
    """Stands in for UILayout: records labels, operators, props and progress bars with their enabled state."""

    def __init__(self, bpy, drawn: List[Drawn], parent: Optional["Recorder"] = None) -> None:
        self._bpy, self.drawn, self._parent = bpy, drawn, parent
        self.enabled = self.active = True

    def _enabled(self) -> bool:
        return self.enabled and (self._parent is None or self._parent._enabled())

    def _add(self, kind: str, text: str = "", icon: str = "NONE", factor: Optional[float] = None) -> None:
        self.drawn.append(Drawn(kind, text or "", icon, self._enabled(), factor))

    def label(self, text: str = "", icon: str = "NONE", **_kwargs) -> None:
        self._add("label", text, icon)

    def operator(self, idname: str, text: Optional[str] = None, icon: str = "NONE", **_kwargs):
        module, name = idname.split(".")
        assert hasattr(getattr(self._bpy.ops, module), name), idname
        self._add("operator", idname, icon)
        return type("OperatorProperties", (), {})()

    def operator_menu_enum(self, idname: str, _prop: str, **kwargs) -> None:
        self._add("operator", idname, kwargs.get("icon", "NONE"))

    def prop(self, data, name: str, **_kwargs) -> None:
        assert name in data.bl_rna.properties, name
        self._add("prop", name)

    def progress(self, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:  # noqa: A002
        self._add("progress", text, factor=factor)

    def template_list(self, listtype: str, *_args, **_kwargs) -> None:
        self._add("template_list", listtype)

    def separator(self, **_kwargs) -> None:
        pass

    def panel(self, _idname: str, **_kwargs):
        """A collapsible section, drawn open: (header, body)."""
        return Recorder(self._bpy, self.drawn, self), Recorder(self._bpy, self.drawn, self)

    def __getattr__(self, name: str):   # row(), column(), box(), split() ...: a nested layout
        return lambda *args, **kwargs: Recorder(self._bpy, self.drawn, self)


def draw(bl, panel: str, header: bool = False) -> List[Drawn]:
    """What ``panel`` draws (its body, or its header's right-hand side)."""
    drawn: List[Drawn] = []
    cls = getattr(bl.bpy.types, PANELS[panel])
    owner = type("P", (), {"layout": Recorder(bl.bpy, drawn)})()
    (cls.draw_header_preset if header else cls.draw)(owner, bl.bpy.context)
    return drawn


def ops(drawn: List[Drawn]) -> dict:
    """Operator idname -> enabled (the last one drawn of each)."""
    return {d.text: d.enabled for d in drawn if d.kind == "operator"}


def bars(drawn: List[Drawn]) -> List[Drawn]:
    return [d for d in drawn if d.kind == "progress"]


def labels(drawn: List[Drawn]) -> List[str]:
    return [d.text for d in drawn if d.kind == "label"]


@dataclass
class ScriptedClient:
    """A worker client whose events come from a script: ``feed`` queues them, ``poll`` hands them over."""

    queued: list = field(default_factory=list)
    outcome: object = None
    cancelled: bool = False
    closed: bool = False

    def poll(self) -> list:
        events, self.queued = self.queued, []
        return events

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def job(bl):
    """A running capture job driven by a :class:`ScriptedClient` (no worker process)."""
    bridge = bl.sub("bridge")
    bl.bpy.context.scene.scorehmr.people.clear()
    made = bridge.activate(bridge.WorkerJob(ScriptedClient(), None, "capture"), bl.bpy.context)
    yield made
    if bridge.active_job() is made:
        bridge.end_job(made, bl.bpy.context)


def _progress(bl, kind_stage_events):
    protocol = bl.sub("server.protocol")
    return [protocol.Progress(job_id="j", stage=s, done=d, total=t, message=f"{s} {d}") for s, d, t in
            kind_stage_events]


def _capture_script():
    events = [("open", 0, 1), ("open", 1, 1)] + [("search", k, 30) for k in range(0, 31, 5)]
    events += [("detect", k, 230) for k in range(0, 231, 23)] + [("regress", 0, 1), ("regress", 1, 1)]
    return events + [("refine", k, 26) for k in range(0, 27, 2)] + [("place", 0, 1), ("place", 1, 1),
                                                                     ("write", 0, 1), ("write", 1, 1)]


def test_idle(bl):
    bl.sub("bridge").end_job(bl.sub("bridge").WorkerJob(ScriptedClient(), None), bl.bpy.context)
    bl.status().stage = ""
    for panel in PANELS:
        drawn = draw(bl, panel)
        assert not bars(drawn) and "scorehmr.cancel" not in ops(drawn), panel
        assert draw(bl, panel, header=True) == []
    capture = ops(draw(bl, "capture"))
    assert capture["scorehmr.find_people"] and capture["scorehmr.capture"]
    assert bl.bpy.ops.scorehmr.find_people.poll() and not bl.bpy.ops.scorehmr.cancel.poll()


def test_an_smpl_file_says_it_has_no_fingers(bl):
    """The Fingers switch with an SMPL model file in Preferences: the panel says the capture will have none."""
    note = "An SMPL file has no fingers (SMPL-H has)"
    assert note not in labels(draw(bl, "capture"))
    bl.prefs().smpl_model = "/models/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    try:
        assert note in labels(draw(bl, "capture"))
        bl.bpy.context.scene.scorehmr.fingers = False
        assert note not in labels(draw(bl, "capture"))
    finally:
        bl.prefs().smpl_model = ""
        bl.bpy.context.scene.scorehmr.fingers = True


def test_running_each_stage_moves_forwards(bl, job):
    bridge, shown = bl.sub("bridge"), []
    for event in _progress(bl, _capture_script()):
        job.client.queued.append(event)
        assert bridge.pump(job, bl.bpy.context) is None
        drawn = draw(bl, "capture")
        (bar,) = bars(drawn)
        shown.append(bar.factor)
        assert bar.text == bl.sub("core.panel_state").stage_label(event.stage, event.done, event.total)
        assert ops(drawn)["scorehmr.cancel"] and "scorehmr.capture" not in ops(drawn)
        assert not ops(drawn)["scorehmr.find_people"], "greyed out while the job runs"
        header = draw(bl, "capture", header=True)
        assert header[0].text == f"{bar.factor:.0%}" and "scorehmr.cancel" in ops(header)
        other = draw(bl, "motion")
        assert not bars(other) and "scorehmr.cancel" not in ops(other)
        assert any("A capture is running" in text for text in labels(other))
        assert draw(bl, "motion", header=True) == []
    assert all(b >= a for a, b in zip(shown, shown[1:])), shown
    assert shown[-1] == pytest.approx(1.0)


def test_cancelling_shows_at_once(bl, job, monkeypatch):
    bridge, redraws = bl.sub("bridge"), []
    job.client.queued.extend(_progress(bl, [("detect", 40, 230)]))
    bridge.pump(job, bl.bpy.context)
    monkeypatch.setattr(bridge, "redraw_panels", lambda: redraws.append("cancel"))
    assert bl.bpy.ops.scorehmr.cancel() == {"FINISHED"}
    assert job.client.cancelled and redraws, "the click is shown at once"
    drawn = draw(bl, "capture")
    assert bars(drawn)[0].text == "Cancelling..." and "scorehmr.cancel" not in ops(drawn)
    assert draw(bl, "capture", header=True)[0].text == "Cancelling..."
    assert not bl.bpy.ops.scorehmr.cancel.poll()
    job.client.queued.extend(_progress(bl, [("detect", 41, 230)]))   # late progress does not hide the cancel
    bridge.pump(job, bl.bpy.context)
    assert bars(draw(bl, "capture"))[0].text == "Cancelling..."


def test_cancelled(bl, job):
    bridge, wc = bl.sub("bridge"), bl.sub("core.worker_client")
    job.client.outcome = wc.WorkerFailure("cancelled", "Capture cancelled.", "Nothing was changed")
    outcome = bridge.pump(job, bl.bpy.context)
    bridge.end_job(job, bl.bpy.context, bridge.as_error(outcome, job.kind))
    drawn = draw(bl, "capture")
    assert not bars(drawn) and "scorehmr.cancel" not in ops(drawn)
    assert ops(drawn)["scorehmr.find_people"] and ops(drawn)["scorehmr.capture"]
    assert [d.icon for d in drawn if d.text == "Capture cancelled."] == ["INFO"]
    assert draw(bl, "capture", header=True) == []


@pytest.mark.parametrize("width", [180, 250, 400])
def test_failed_with_a_long_message_is_wrapped(bl, job, monkeypatch, width):
    bridge, panels, ps = bl.sub("bridge"), bl.sub("panels"), bl.sub("core.panel_state")
    monkeypatch.setattr(panels, "DEFAULT_REGION_WIDTH", width)
    error = bl.sub("core.panel_errors").ScoreHMRError(
        LONG_ERROR, "See the system console for the worker's log; the log has the whole traceback", "worker_crashed")
    bridge.end_job(job, bl.bpy.context, error)
    drawn = draw(bl, "capture")
    chars = ps.chars_per_line(width, bl.bpy.context.preferences.view.ui_scale)
    shown = [d for d in drawn if d.kind == "label" and d.text and (d.text in LONG_ERROR or d.text in error.hint)]
    assert " ".join(d.text for d in shown if d.text in LONG_ERROR).startswith("The worker stopped unexpectedly")
    assert all(len(d.text) <= chars for d in shown), [d.text for d in shown]
    assert shown[0].icon == "ERROR" and len(shown) > 2
    assert "scorehmr.clear_error" in ops(drawn) and ops(drawn)["scorehmr.find_people"]
    assert [d.icon for d in draw(bl, "capture", header=True)] == ["ERROR"]
    assert not [d for d in draw(bl, "motion") if d.icon == "ERROR"], "the error stays in its own panel"


def test_done_names_only_objects_that_exist(bl, job):
    bridge, b = bl.sub("bridge"), bl.bpy
    obj = b.data.objects.new("ScoreHMR_Test", None)
    b.context.scene.collection.objects.link(obj)
    job.subject = obj.name
    bridge.end_job(job, b.context, text=f"Keyed {obj.name}; camera 0.13 m below the ground")
    drawn = draw(bl, "capture")
    assert f"Keyed {obj.name}" in labels(drawn) and "camera 0.13 m below the ground" in labels(drawn)
    assert [d.icon for d in drawn if d.text == f"Keyed {obj.name}"] == ["CHECKMARK"]
    b.data.objects.remove(obj)   # what Ctrl+Z does to a capture's armature
    assert not any("Keyed" in text for text in labels(draw(bl, "capture")))


def test_cleanup_shows_in_its_own_panel(bl):
    bridge = bl.sub("bridge")
    job = bridge.activate(bridge.WorkerJob(ScriptedClient(), None, "cleanup"), bl.bpy.context)
    try:
        job.client.queued.extend(_progress(bl, [("cleanup", 5, 20)]))
        bridge.pump(job, bl.bpy.context)
        motion, capture = draw(bl, "motion"), draw(bl, "capture")
        assert bars(motion)[0].factor == pytest.approx(0.25) and ops(motion)["scorehmr.cancel"]
        assert not bars(capture) and "scorehmr.cancel" not in ops(capture)
        assert any("A clean-up is running" in text for text in labels(capture))
        header = draw(bl, "motion", header=True)   # seen with the panel collapsed too
        assert header[0].text == "25%" and "scorehmr.cancel" in ops(header)
        assert draw(bl, "capture", header=True) == []
    finally:
        bridge.end_job(job, bl.bpy.context, text="Cleaned 20 frames (1-20) into Walk_clean")
    assert "Cleaned 20 frames (1-20) into" in " ".join(labels(draw(bl, "motion")))
    assert not any("Cleaned" in text for text in labels(draw(bl, "capture")))


def test_retarget_errors_show_in_the_retarget_panel(bl):
    bridge = bl.sub("bridge")
    error = bl.sub("core.panel_errors").ScoreHMRError("No target rig.", "Pick your rig as Target Rig", "no_armature")
    bridge.show_error(error, bl.bpy.context, panel="retarget")
    assert "No target rig." in labels(draw(bl, "retarget"))
    assert "No target rig." not in labels(draw(bl, "capture")) + labels(draw(bl, "motion"))


def test_an_error_elsewhere_keeps_the_running_job_on_show(bl, job):
    """A retarget (no worker) that fails while a capture runs: the capture's bar stays, the error shows in its
    own panel."""
    bridge = bl.sub("bridge")
    job.client.queued.extend(_progress(bl, [("detect", 40, 230)]))
    bridge.pump(job, bl.bpy.context)
    error = bl.sub("core.panel_errors").ScoreHMRError("No target rig.", "Pick your rig as Target Rig", "no_armature")
    bridge.show_error(error, bl.bpy.context, panel="retarget")
    bridge.show_done("Exported ScoreHMR_Armature", bl.bpy.context, panel="retarget")
    assert bl.status().running and bars(draw(bl, "capture"))[0].text == "Detecting the person 40/230"
    assert "No target rig." not in labels(draw(bl, "retarget")), "show_done cleared it"
    bridge.show_error(error, bl.bpy.context, panel="retarget")
    assert "No target rig." in labels(draw(bl, "retarget")) and bars(draw(bl, "capture"))
    bridge.end_job(job, bl.bpy.context, text="Keyed ScoreHMR_Armature")
    assert "No target rig." in labels(draw(bl, "retarget")), "the capture's success left the retarget's error"
    assert "No target rig." not in labels(draw(bl, "capture"))


def test_every_change_of_job_state_redraws(bl, monkeypatch):
    bridge, redraws = bl.sub("bridge"), []
    bridge.redraw_panels()   # no window in background mode: nothing to tag, and no error
    monkeypatch.setattr(bridge, "redraw_panels", lambda: redraws.append(1))
    job = bridge.activate(bridge.WorkerJob(ScriptedClient(), None, "people"), bl.bpy.context)
    assert len(redraws) == 1
    bridge.pump(job, bl.bpy.context)
    assert len(redraws) == 1, "nothing happened: no redraw"
    job.client.queued.extend(_progress(bl, [("search", 1, 9)]))
    bridge.pump(job, bl.bpy.context)
    assert len(redraws) == 2
    bridge.end_job(job, bl.bpy.context, text="Found 2 people")
    assert len(redraws) == 3 and not bl.status().running


def test_cancel_of_a_worker_that_ignores_it_returns_to_idle_within_a_second(bl, fake_pythons, fake_video):
    """The real path with the fake worker that ignores cancel and SIGTERM: idle again within about 1 s."""
    bridge = bl.sub("bridge")
    bl.configure(fake_pythons("ignore_cancel"), fake_video)
    job = bridge.start_capture(bl.bpy.context)
    deadline = time.monotonic() + 20
    while bl.status().stage in ("Starting the worker", "Worker started") and time.monotonic() < deadline:
        bridge.pump(job)
        time.sleep(0.05)
    clicked = time.monotonic()
    assert bridge.request_cancel() and bl.status().cancelling
    while (outcome := bridge.pump(job)) is None and time.monotonic() < deadline:
        time.sleep(0.1)   # the modal operator's timer
    bridge.end_job(job, bl.bpy.context, bridge.as_error(outcome, job.kind))
    seconds = time.monotonic() - clicked
    assert outcome.code == "cancelled" and seconds < 1.2, f"idle {seconds:.2f} s after the click"
    assert not bl.status().running and bl.status().error == "Capture cancelled."
    assert job.client.returncode == -9 and bridge.active_job() is None
