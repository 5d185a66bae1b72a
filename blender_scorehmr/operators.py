"""Operators (thin): capture, cancel, set up worker, clear the error.

Capture runs modal when invoked from the UI: ``invoke`` starts the worker and adds a window timer,
``modal`` drains events on each tick (Blender stays responsive) and, when the result arrives, applies it
and returns FINISHED, so the whole capture is ONE undo step pushed by Blender for this UNDO operator.
Failures and Cancel return CANCELLED: no undo step and nothing in the scene changes. ``execute``
(``bpy.ops.scorehmr.capture()``, background mode) runs the same steps blocking.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional, Set

import bpy
from bpy.props import IntProperty, StringProperty

from . import bridge, preferences
from .apply import apply_result
from .core import capture_result, people_list
from .core.panel_errors import ErrorCode, ScoreHMRError
from .core.panel_state import camera_height_text, join_status
from .core.worker_setup import WorkerSetup
from .server import protocol

log = logging.getLogger(__name__)


class WorkerJobOperator:
    """Mixin of the operators that run one worker job (capture, clean up, import): blocking ``execute``, modal
    ``invoke`` on a window timer, and ``_finish``. Subclasses define ``_begin(context) -> bridge.WorkerJob``
    (raise ScoreHMRError for bad input: nothing changes) and ``_apply(context, job, result) -> str`` (the status
    line, most important part first; set ``job.subject`` to the object it names; raise ScoreHMRError or let a bpy
    error through after rolling back its own changes)."""

    _timer = None
    _job: Optional[bridge.WorkerJob] = None
    panel = "capture"   # the panel that shows this operator's errors before its job starts

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bridge.active_job() is None and context.scene is not None

    def execute(self, context: bpy.types.Context) -> Set[str]:
        if not self._start(context):
            return {"CANCELLED"}
        while self._job.client.outcome is None:
            bridge.pump(self._job, context)
            time.sleep(0.05)
        return self._finish(context, bridge.pump(self._job, context))

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        outcome = bridge.pump(self._job, context)   # redraws the sidebars when anything changed
        if outcome is None:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(context, outcome)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal run (file load, window closed): stop the worker, change nothing."""
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        if self._job is not None:
            self._job.client.cancel()
            bridge.end_job(self._job, context, ScoreHMRError(f"{self.bl_label} stopped.",
                                                             f"Press {self.bl_label} again", "cancelled"))

    def _begin(self, context: bpy.types.Context) -> bridge.WorkerJob:
        raise NotImplementedError

    def _apply(self, context: bpy.types.Context, job: bridge.WorkerJob, result: protocol.Result) -> str:
        raise NotImplementedError

    def _start(self, context: bpy.types.Context) -> bool:
        try:
            self._job = self._begin(context)
        except ScoreHMRError as exc:  # bad settings or no worker: show it, change nothing
            bridge.show_error(exc, context, self.panel)
            self.report({"ERROR"}, str(exc))
            return False
        return True

    def _finish(self, context: bpy.types.Context, outcome: bridge.Outcome) -> Set[str]:
        job, error = self._job, None
        if isinstance(outcome, protocol.Result):
            try:
                text = self._apply(context, job, outcome)
            except ScoreHMRError as exc:  # invalid or empty result: nothing was added
                error = exc
            except Exception as exc:  # a bpy failure while keying: _apply rolled back; report it
                log.exception("applying the %s result failed", job.kind)
                error = ScoreHMRError(f"Applying the result failed: {exc}", "See the system console", "internal")
                if job.kind == "capture":
                    error.message = f"Applying the capture failed: {exc}"
            else:
                bridge.end_job(job, context, text=text)
                self.report({"INFO"}, text)
                return {"FINISHED"}
        else:
            error = bridge.as_error(outcome, job.kind)
        bridge.end_job(job, context, error)
        self.report({"WARNING"} if error.code == ErrorCode.CANCELLED else {"ERROR"}, str(error))
        return {"CANCELLED"}


class SCOREHMR_OT_capture(WorkerJobOperator, bpy.types.Operator):
    """Capture the person's motion from the footage and key an SMPL armature"""

    bl_idname = "scorehmr.capture"
    bl_label = "Capture Motion"
    bl_options = {"REGISTER", "UNDO"}

    def _begin(self, context: bpy.types.Context) -> bridge.WorkerJob:
        return bridge.start_capture(context)

    def _apply(self, context: bpy.types.Context, job: bridge.WorkerJob, result: protocol.Result) -> str:
        tick = time.perf_counter()
        obj = apply_result(context, job.request, Path(result.path))
        bridge.record_success(result, obj, time.perf_counter() - tick)
        job.subject = obj.name
        height = capture_result.camera_height_of(Path(result.path))
        parts = [f"Keyed {obj.name}" + (f" ({job.payload})" if job.payload else "")]
        parts += [camera_height_text(height)] if height is not None else []
        return join_status(parts + list(result.notes))


class SCOREHMR_OT_find_people(WorkerJobOperator, bpy.types.Operator):
    """List the people in the footage's frame range, so you can pick the one to capture"""

    bl_idname = "scorehmr.find_people"
    bl_label = "Find People"
    bl_options = {"REGISTER", "UNDO"}

    def _begin(self, context: bpy.types.Context) -> bridge.WorkerJob:
        return bridge.start_people(context)

    def _apply(self, context: bpy.types.Context, job: bridge.WorkerJob, result: protocol.Result) -> str:
        count = people_list.fill_people(context.scene.scorehmr, Path(result.path), job.payload)
        return "Found one person" if count == 1 else f"Found {count} people"


class SCOREHMR_OT_cancel(bpy.types.Operator):
    """Stop the running job (capture, clean up or import); the scene stays as it was"""

    bl_idname = "scorehmr.cancel"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bridge.active_job() is not None and not context.window_manager.scorehmr_status.cancelling

    def execute(self, context: bpy.types.Context) -> Set[str]:
        bridge.request_cancel()
        return {"FINISHED"}


class SCOREHMR_OT_clear_error(bpy.types.Operator):
    """Dismiss the last error"""

    bl_idname = "scorehmr.clear_error"
    bl_label = "Dismiss"
    bl_options = {"INTERNAL"}

    def execute(self, context: bpy.types.Context) -> Set[str]:
        bridge.clear_error(context)
        return {"FINISHED"}


class SCOREHMR_OT_setup_worker(bpy.types.Operator):
    """Create the worker's Python environment in the extension's user folder and install its packages"""

    bl_idname = "scorehmr.setup_worker"
    bl_label = "Set up Worker"
    bl_options = {"INTERNAL"}

    requirements: StringProperty(name="Requirements", options={"HIDDEN", "SKIP_SAVE"},
                                 description="Requirements file (empty: the bundled server/requirements.txt)")
    _timer = None

    def _begin(self) -> WorkerSetup:
        requirements = Path(self.requirements) if self.requirements else preferences.requirements_file()
        setup = WorkerSetup(preferences.worker_env_dir(), requirements)
        preferences.set_current_setup(setup)
        setup.start()
        return setup

    def execute(self, context: bpy.types.Context) -> Set[str]:
        state = self._begin().wait()
        if state.error:
            self.report({"ERROR"}, f"{state.error} ({state.hint})")
            return {"CANCELLED"}
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self._begin()
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "PREFERENCES":
                    area.tag_redraw()
        state = preferences.current_setup().state
        if state.running:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return {"CANCELLED"} if state.error else {"FINISHED"}


class SCOREHMR_OT_view_add(bpy.types.Operator):
    """Add another camera's clip of the same performance (multi-view capture)"""

    bl_idname = "scorehmr.view_add"
    bl_label = "Add Camera"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> Set[str]:
        context.scene.scorehmr.views.add()
        return {"FINISHED"}


class SCOREHMR_OT_view_remove(bpy.types.Operator):
    """Remove this camera from the multi-view capture"""

    bl_idname = "scorehmr.view_remove"
    bl_label = "Remove Camera"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Index", default=0, min=0)

    def execute(self, context: bpy.types.Context) -> Set[str]:
        views = context.scene.scorehmr.views
        if self.index >= len(views):
            return {"CANCELLED"}
        views.remove(self.index)
        return {"FINISHED"}


OPERATOR_CLASSES = (SCOREHMR_OT_capture, SCOREHMR_OT_find_people, SCOREHMR_OT_cancel, SCOREHMR_OT_clear_error,
                    SCOREHMR_OT_setup_worker, SCOREHMR_OT_view_add, SCOREHMR_OT_view_remove)
