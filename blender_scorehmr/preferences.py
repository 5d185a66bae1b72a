"""Add-on preferences: the worker's interpreter, Set up worker (with progress) and the hang timeout."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import bpy
from bpy.props import FloatProperty, StringProperty

from .core.panel_errors import ScoreHMRError
from .core.worker_setup import ENV_VAR, WorkerSetup, resolve_worker_python

ADDON_PACKAGE = __package__
ADDON_DIR = Path(__file__).resolve().parent  # holds the bundled server/ once staged or installed

_setup: Optional[WorkerSetup] = None  # the running or last Set up worker job (main thread only)


def user_dir(sub: str) -> Path:
    """A writable folder under the extension's user directory (never inside the extension)."""
    return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path=sub, create=True))


def worker_env_dir() -> Path:
    return user_dir("worker_env")


def jobs_dir() -> Path:
    return user_dir("jobs")


def requirements_file() -> Path:
    return ADDON_DIR / "server" / "requirements.txt"


def get_prefs(context: Optional[bpy.types.Context] = None) -> "SCOREHMR_AddonPreferences":
    context = context or bpy.context
    return context.preferences.addons[ADDON_PACKAGE].preferences


def smpl_model_path(context: Optional[bpy.types.Context] = None) -> str:
    """The user's SMPL model file as an absolute path, or "" for the built-in open body; raises ScoreHMRError."""
    raw = get_prefs(context).smpl_model.strip()
    if not raw:
        return ""
    path = Path(bpy.path.abspath(raw))
    if not path.is_file():
        raise ScoreHMRError(f"The SMPL model file does not exist: {path}",
                            "Fix Preferences > Add-ons > ScoreHMR > SMPL Model File, or clear it", "bad_body_model")
    return str(path)


def worker_python(context: Optional[bpy.types.Context] = None) -> str:
    """The worker interpreter per :func:`worker_setup.resolve_worker_python`; raises ScoreHMRError."""
    return resolve_worker_python(get_prefs(context).worker_python, worker_env_dir())


def current_setup() -> Optional[WorkerSetup]:
    return _setup


def set_current_setup(setup: Optional[WorkerSetup]) -> None:
    global _setup
    _setup = setup


class SCOREHMR_AddonPreferences(bpy.types.AddonPreferences):
    """Preferences > Add-ons > ScoreHMR."""

    bl_idname = ADDON_PACKAGE

    worker_python: StringProperty(
        name="Worker Python", subtype="FILE_PATH",
        description=f"Python interpreter that runs the worker; empty: ${ENV_VAR}, then the one made by "
                    "Set up worker",
    )
    smpl_model: StringProperty(
        name="SMPL Model File", subtype="FILE_PATH",
        description="Optional: an official SMPL model file (.pkl or .npz from the SMPL website, licence-gated). "
                    "Empty: the built-in open body",
    )
    hang_timeout: FloatProperty(
        name="Hang Timeout", default=60.0, min=0.5, soft_min=5.0, max=3600.0, unit="TIME_ABSOLUTE",
        description="Stop the worker if a running job sends no progress for this long (seconds)",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "worker_python")
        layout.prop(self, "smpl_model")
        layout.prop(self, "hang_timeout")
        setup = current_setup()
        row = layout.row()
        row.enabled = setup is None or not setup.state.running
        row.operator("scorehmr.setup_worker", icon="CONSOLE")
        if setup is not None:
            state = setup.state
            if state.running or state.done:
                layout.progress(factor=state.fraction, type="BAR", text=state.stage)
            if state.error:
                box = layout.box()
                box.label(text=state.error, icon="ERROR")
                box.label(text=state.hint, icon="INFO")
        else:
            layout.label(text=f"Worker environment: {worker_env_dir()}", icon="FILE_FOLDER")
