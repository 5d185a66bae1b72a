"""Between the panel and the worker, on Blender's main thread: start a job, drain its events into the
status properties, cancel, and stop every job on unregister or file load.

Only :class:`worker_client.WorkerClient`'s reader threads run off the main thread, and they never touch bpy.
Every change of a job's state here tags the sidebars for redraw (:func:`redraw_panels`): Blender does not redraw
a panel for a property changed from Python, so without it the panel shows a finished job until the mouse moves.
"""
from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type, Union

import bpy

from . import body_mesh, preferences, rig
from .apply import ApplyRequest, check_writable_target
from .core.panel_errors import ErrorCode, ScoreHMRError
from .core.panel_state import CANCELLING, STARTING, JobProgress, panel_of
from .core.people_list import chosen_person, people_key, people_listed, selected_person_note, source_range
from .core.worker_client import WorkerClient, WorkerFailure
from .server import protocol
from .server.options import CaptureOptions, CleanupOptions, OptionsT, PeopleOptions, options_of

if TYPE_CHECKING:   # the clean-up operator's module imports this one
    from .operators_motion import CleanupJob

log = logging.getLogger(__name__)

PANEL_SPACES = ("VIEW_3D",)   # the editors whose sidebars hold ScoreHMR panels
KIND_LABEL = {"capture": "Capture", "cleanup": "Clean up", "import_motion": "Import", "people": "Find People"}
BUSY_TEXT = {"capture": "A capture", "cleanup": "A clean-up", "import_motion": "An import",
             "people": "A search for people"}
KEEP_JOBS = 5
Outcome = Union[protocol.Result, WorkerFailure]


@dataclass
class WorkerJob:
    """One running job: the worker client and the settings snapshot. ``kind`` is the protocol job kind
    (capture, cleanup, import_motion, people); ``payload`` what the job's operator needs to apply the result, by
    kind: a capture's person note (str, "" for none), Find People's list key (:func:`people_key`), a clean-up's
    :class:`~.operators_motion.CleanupJob`, nothing for an import; ``subject`` the name of the object its outcome
    line names (set when the result is applied)."""

    client: WorkerClient
    request: Optional[ApplyRequest]
    kind: str = "capture"
    payload: "Union[str, CleanupJob, None]" = None
    progress: Optional[JobProgress] = None
    subject: str = ""


_active: Optional[WorkerJob] = None
_last_report: Dict[str, Any] = {}


def active_job() -> Optional[WorkerJob]:
    return _active


def last_report() -> Dict[str, Any]:
    """Figures of the last successful capture: result_path, frames, seconds, timings (worker stages),
    keyframe_seconds (applying in Blender: armature, body mesh and keys), object, body ("" if none) and action
    names."""
    return dict(_last_report)


def record_success(result: protocol.Result, obj: bpy.types.Object, keyframe_seconds: float) -> None:
    body = body_mesh.find_body(obj)
    _last_report.clear()
    _last_report.update(result_path=result.path, frames=result.frames, seconds=result.seconds,
                        timings=dict(result.timings), keyframe_seconds=keyframe_seconds, object=obj.name,
                        body=body.name if body is not None else "", action=obj.animation_data.action.name)


def status(context: Optional[bpy.types.Context] = None):
    """The status property group (WindowManager: not saved, not undone)."""
    return (context or bpy.context).window_manager.scorehmr_status


def footage_path(settings) -> str:
    """Absolute path of the chosen footage; raise :class:`ScoreHMRError` if none is chosen."""
    if settings.source == "CLIP":
        clip = settings.clip
        if clip is None:
            raise ScoreHMRError("No Movie Clip is chosen.", "Pick a Movie Clip in the ScoreHMR panel",
                                ErrorCode.NO_FOOTAGE)
        if clip.source != "MOVIE":
            raise ScoreHMRError(f"{clip.name} is an image sequence, not a video.",
                                "Use a video file (e.g. .mp4) as footage", "video_unreadable")
        path = bpy.path.abspath(clip.filepath, library=clip.library)
    else:
        if not settings.filepath:
            raise ScoreHMRError("No footage is chosen.", "Pick a video file in the ScoreHMR panel",
                                ErrorCode.NO_FOOTAGE)
        path = bpy.path.abspath(settings.filepath)
    return str(Path(path).resolve())


def make_request(context: bpy.types.Context, job_dir: Path, job_id: str) -> ApplyRequest:
    """Snapshot the panel settings; raise :class:`ScoreHMRError` on settings that cannot work."""
    settings = context.scene.scorehmr
    video = footage_path(settings)
    start, end = source_range(settings)
    if end != -1 and end <= start:
        raise ScoreHMRError("The last frame comes before the first frame.", "Fix the frame range", ErrorCode.BAD_RANGE)
    active = context.view_layer.objects.active if context.view_layer else None
    target = active.name if rig.is_scorehmr_rig(active) else ""
    check_writable_target(target)
    options = panel_options(settings, CaptureOptions)
    # what the panel greys out is not asked for: no alternatives without refinement, no foot locking unplaced
    options = replace(options, hypotheses=options.hypotheses if options.refine else 0,
                      lock_feet=options.place and options.lock_feet)
    return ApplyRequest(job_id=job_id, video=video, start=start, end=end, scene_start=settings.scene_start,
                        match_scene_fps=settings.match_scene_fps, fit_scene_range=settings.fit_scene_range,
                        target_name=target, job_dir=str(job_dir), body_mesh=settings.body_mesh,
                        views=view_paths(settings, video), calibration=calibration_path(settings),
                        match_camera=settings.match_camera, options=options)


def panel_options(settings: Any, options_class: Type[OptionsT]) -> OptionsT:
    """The options of ``options_class`` as the panel's ``settings`` hold them (a property per option, named by its
    declaration: :mod:`.properties`)."""
    return options_class(**{spec.name: getattr(settings, spec.panel_name) for spec in options_of(options_class)})


def calibration_path(settings) -> str:
    """The multi-view calibration file (absolute), or "" (none chosen, or Multi-View off); raise ScoreHMRError
    when it is chosen but missing."""
    if not settings.use_views or not settings.calibration:
        return ""
    path = str(Path(bpy.path.abspath(settings.calibration)).resolve())
    if not Path(path).is_file():
        raise ScoreHMRError(f"The calibration file {path} does not exist.", "Pick it again or clear it",
                            "bad_calibration")
    return path


def view_paths(settings, main_video: str) -> tuple:
    """Absolute paths of the multi-view clips (empty unless Multi-View is on); raise ScoreHMRError when one is
    not chosen, missing or the main footage again."""
    if not settings.use_views:
        return ()
    paths = []
    for index, view in enumerate(settings.views):
        if not view.filepath:
            raise ScoreHMRError(f"Camera {index + 2} has no video.", "Pick its clip or remove it", ErrorCode.NO_FOOTAGE)
        path = str(Path(bpy.path.abspath(view.filepath)).resolve())
        if not Path(path).is_file():
            raise ScoreHMRError(f"Camera {index + 2}'s video {path} does not exist.", "Pick its clip again",
                                "video_missing")
        if path == main_video or path in paths:
            raise ScoreHMRError(f"Camera {index + 2} repeats a clip already in the capture.",
                                "Each camera needs its own clip", "bad_views")
        paths.append(path)
    if not paths:
        raise ScoreHMRError("Multi-View is on but no other camera is added.", "Add a camera's clip or turn "
                            "Multi-View off", "bad_views")
    return tuple(paths)


def check_idle() -> None:
    """Raise :class:`ScoreHMRError` (code ``busy``) while a job is running."""
    if _active is not None:
        raise ScoreHMRError(f"{BUSY_TEXT.get(_active.kind, 'A job')} is already running.",
                            "Wait for it or press Cancel", "busy")


def new_job_dir() -> Tuple[str, Path]:
    """A fresh job id and its (not yet created) folder under the extension's user folder; old ones pruned."""
    job_id = uuid.uuid4().hex[:12]
    jobs = preferences.jobs_dir()
    _prune_jobs(jobs)
    return job_id, jobs / job_id


def start_capture(context: bpy.types.Context) -> WorkerJob:
    """Resolve the worker, snapshot the settings, spawn the worker and submit; raise ScoreHMRError."""
    check_idle()
    python = preferences.worker_python(context)
    body_model = preferences.smpl_model_path(context)
    job_id, job_dir = new_job_dir()
    request = make_request(context, job_dir, job_id)
    job_dir.mkdir(parents=True, exist_ok=True)
    submit = protocol.Submit(job_id=job_id, kind="capture", video=request.video, job_dir=str(job_dir),
                             start=request.start, end=request.end, body_model=body_model, views=list(request.views),
                             calibration=request.calibration, options=request.options,
                             **chosen_person(context.scene.scorehmr, request.video, request.start, request.end))
    note = selected_person_note(context.scene.scorehmr, request.video, request.start, request.end)
    return _launch(context, python, submit, WorkerJob(None, request, payload=note))  # type: ignore[arg-type]


def people_current(settings) -> bool:
    """True when the people list belongs to the panel's footage and range as they are now (for the panel)."""
    try:
        video = footage_path(settings)
    except ScoreHMRError:
        return False
    return people_listed(settings, video, *source_range(settings))


def start_people(context: bpy.types.Context) -> WorkerJob:
    """Submit a ``people`` job for the panel's footage and range; raise ScoreHMRError."""
    check_idle()
    settings = context.scene.scorehmr
    python = preferences.worker_python(context)
    video = footage_path(settings)
    start, end = source_range(settings)
    if end != -1 and end <= start:
        raise ScoreHMRError("The last frame comes before the first frame.", "Fix the frame range", ErrorCode.BAD_RANGE)
    job_id, job_dir = new_job_dir()
    job_dir.mkdir(parents=True, exist_ok=True)
    submit = protocol.Submit(job_id=job_id, kind="people", video=video, job_dir=str(job_dir), start=start, end=end,
                             options=panel_options(settings, PeopleOptions))
    return _launch(context, python, submit, WorkerJob(None, None, "people", people_key(video, start, end)))


def start_motion_job(context: bpy.types.Context, kind: str, motion: Path, job_id: str, job_dir: Path,
                     options: Optional[CleanupOptions] = None, request: Optional[ApplyRequest] = None,
                     payload: "Optional[CleanupJob]" = None) -> WorkerJob:
    """Submit a ``cleanup`` (with ``options``, default: every default) or ``import_motion`` job reading the
    ``.npz`` ``motion``; raise ScoreHMRError."""
    check_idle()
    python = preferences.worker_python(context)
    submit = protocol.Submit(job_id=job_id, kind=kind, video="", job_dir=str(job_dir), motion=str(motion),
                             body_model=preferences.smpl_model_path(context), options=options)
    job_dir.mkdir(parents=True, exist_ok=True)
    return _launch(context, python, submit, WorkerJob(None, request, kind, payload))  # type: ignore[arg-type]


def _launch(context: bpy.types.Context, python: str, submit: protocol.Submit, job: WorkerJob) -> WorkerJob:
    """Spawn the worker for ``job``, send ``submit`` and make ``job`` the active one."""
    prefs = preferences.get_prefs(context)
    client = WorkerClient(python, preferences.ADDON_DIR, hang_timeout=prefs.hang_timeout, cwd=Path(submit.job_dir))
    client.start()
    client.submit(submit)
    job.client = client
    return activate(job, context)


def activate(job: WorkerJob, context: Optional[bpy.types.Context] = None) -> WorkerJob:
    """Make ``job`` (its client started) the running job and show it in its panel, redrawn at once."""
    global _active
    job.progress = JobProgress(job.kind)
    _active = job
    st = status(context)
    st.running, st.cancelling, st.progress, st.stage, st.message, st.subject = True, False, 0.0, STARTING, "", ""
    _clear_error(st)
    st.panel = panel_of(job.kind)
    redraw_panels()
    return _active


def pump(job: WorkerJob, context: Optional[bpy.types.Context] = None) -> Optional[Outcome]:
    """Drain the job's events into the status properties; return the outcome once the job has ended. The bar
    (``status.progress``) covers the whole job and never moves back (:class:`panel_state.JobProgress`)."""
    st = status(context)
    events = job.client.poll()
    for event in events if not st.cancelling else ():   # cancelling: the panel keeps saying so
        if isinstance(event, protocol.Ready):
            st.stage = "Worker started"
        elif isinstance(event, protocol.Progress):
            st.progress = job.progress.update(event.stage, event.done, event.total)
            st.stage, st.message = job.progress.label, event.message
    if events:
        redraw_panels()
    return job.client.outcome


def request_cancel() -> bool:
    """Ask the running job to stop and say so at once; the job ends within a second (the worker answers, or
    :class:`WorkerClient` stops it) and the operator that owns it reports the outcome."""
    if _active is None:
        return False
    _active.client.cancel()
    st = status()
    st.cancelling, st.stage, st.message = True, CANCELLING, ""
    redraw_panels()
    return True


def end_job(job: WorkerJob, context: Optional[bpy.types.Context] = None,
            error: Optional[ScoreHMRError] = None, text: str = "") -> None:
    """Forget the job, reap its worker, and show ``error`` (or the success line ``text``, which names
    ``job.subject``) in the job's panel, redrawn at once."""
    global _active
    job.client.close()
    if _active is job:
        _active = None
    st = status(context)
    st.running = st.cancelling = False
    st.panel = panel_of(job.kind)
    if error is not None:   # an error shown by another panel meanwhile (a retarget's, say) stays in that panel
        st.progress, st.stage, st.message, st.subject = 0.0, "", "", ""
        _set_error(st, error, st.panel, error.details[-2000:])
    else:
        st.progress, st.stage, st.message, st.subject = 1.0, text or "Done", "", job.subject
    redraw_panels()


def show_error(error: ScoreHMRError, context: Optional[bpy.types.Context] = None, panel: str = "capture") -> None:
    """Show an error that happened before a job started (or without one) in ``panel`` (capture, motion or
    retarget); a running job's progress stays as it is."""
    st = status(context)
    if _active is None:
        st.progress, st.stage, st.message, st.subject, st.panel = 0.0, "", "", "", panel
    _set_error(st, error, panel)
    redraw_panels()


def show_done(text: str, context: Optional[bpy.types.Context] = None, panel: str = "capture",
              subject: str = "") -> None:
    """Show the success line ``text`` of work done without a worker job (retarget, importing results) in
    ``panel``; ``subject``: the object it names (the line disappears when that object is gone, e.g. undone).
    While a job runs its progress stays, and the line is only logged (the operator reports it too)."""
    st = status(context)
    _clear_error(st)
    if _active is None:
        st.progress, st.stage, st.message, st.subject, st.panel = 1.0, text, "", subject, panel
    else:
        log.info("%s", text)
    redraw_panels()


def clear_error(context: Optional[bpy.types.Context] = None) -> None:
    """Dismiss the last error (the X beside it)."""
    _clear_error(status(context))
    redraw_panels()


def _clear_error(st) -> None:
    """No error in any panel."""
    st.error = st.hint = st.error_code = st.details = ""


def _set_error(st, error: ScoreHMRError, panel: str, details: str = "") -> None:
    """Show ``error`` (message, hint, code) and ``details`` (the worker's log tail) in ``panel``."""
    st.error, st.hint, st.error_code, st.details, st.error_panel = error.message, error.hint, error.code, details, panel


def redraw_panels() -> None:
    """Tag the sidebar (UI region) of every editor that shows ScoreHMR panels, in every window, for redraw (main
    thread only). Only the sidebars: tagging the whole area would redraw the 3D view with it on every progress tick."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        for area in window.screen.areas if window.screen is not None else ():
            if area.type in PANEL_SPACES:
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


def as_error(outcome: WorkerFailure, kind: str = "capture") -> ScoreHMRError:
    """The worker's failure as a panel error (a cancel names the job that was cancelled)."""
    if outcome.code == ErrorCode.CANCELLED:
        return ScoreHMRError(f"{KIND_LABEL.get(kind, 'Job')} cancelled.", "Nothing was changed", ErrorCode.CANCELLED,
                             outcome.details)
    return ScoreHMRError(outcome.message, outcome.hint, outcome.code, outcome.details)


def stop_all() -> None:
    """Stop the running job (unregister, file load); its operator then ends as cancelled."""
    global _active
    if _active is not None:
        log.info("stopping the running %s job", _active.kind)
        _active.client.cancel()
        _active.client.close()
        _active = None


def _prune_jobs(jobs: Path) -> None:
    """Keep the newest :data:`KEEP_JOBS` job folders (results are in the .blend once applied)."""
    folders = sorted((p for p in jobs.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in folders[:-KEEP_JOBS] if len(folders) > KEEP_JOBS else []:
        shutil.rmtree(old, ignore_errors=False)
