"""Which Python runs the worker, and "Set up worker": a venv with the bundled requirements (no bpy).

Resolution order: the preference ``worker_python`` -> ``$SCOREHMR_WORKER_PYTHON`` -> the environment made
by Set up worker (under the extension's user folder) -> a :class:`ScoreHMRError` with a hint.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional

from .panel_errors import SETUP_HINT, ErrorCode, ScoreHMRError

log = logging.getLogger(__name__)

ENV_VAR = "SCOREHMR_WORKER_PYTHON"


def env_python(env_dir: Path) -> Path:
    """The interpreter inside a venv folder."""
    return Path(env_dir) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def resolve_worker_python(preference: str, env_dir: Optional[Path],
                          environ: Optional[Mapping[str, str]] = None) -> str:
    """Pick the worker's interpreter (see the module docstring); raise :class:`ScoreHMRError` if none."""
    environ = os.environ if environ is None else environ
    for source, value in (("the preference", preference), (ENV_VAR, environ.get(ENV_VAR, ""))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ScoreHMRError(f"The worker Python set by {source} does not exist: {path}",
                                    "Fix the path in Preferences > Add-ons > ScoreHMR or clear it", "worker_not_found")
            return str(path)
    if env_dir is not None and env_python(env_dir).is_file():
        return str(env_python(env_dir))
    raise ScoreHMRError("The worker is not set up yet.", SETUP_HINT, ErrorCode.WORKER_NOT_FOUND)


@dataclass
class SetupState:
    """Progress of Set up worker, written by its thread and read by the UI (plain Python values only)."""

    running: bool = False
    fraction: float = 0.0
    stage: str = ""
    error: str = ""
    hint: str = ""
    done: bool = False


def count_requirements(requirements: Path) -> int:
    """Requirement lines (not comments, not blank, not -r includes) in a requirements file."""
    lines = Path(requirements).read_text().splitlines()
    return sum(1 for line in lines if line.strip() and not line.strip().startswith(("#", "-")))


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pip_install_command(python: str, requirements: Path, platform: str = sys.platform) -> List[str]:
    """The pip command that installs the worker's requirements. On Linux and Windows PyTorch's CPU index is added:
    PyPI's Linux torch wheel pulls gigabytes of CUDA libraries the worker never uses, and the CPU index's
    ``torch==X+cpu`` satisfies the ``torch==X`` pin and sorts above PyPI's build. macOS wheels are CPU-only."""
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
           "-r", str(requirements)]
    if not platform.startswith("darwin"):
        cmd += ["--extra-index-url", TORCH_CPU_INDEX]
    return cmd


class WorkerSetup:
    """Creates ``env_dir`` with ``base_python -m venv`` and installs ``requirements`` with pip, in a thread."""

    def __init__(self, env_dir: Path, requirements: Path, base_python: str = sys.executable) -> None:
        self.env_dir = Path(env_dir)
        self.requirements = Path(requirements)
        self.base_python = base_python
        self.state = SetupState()
        self.log: List[str] = []
        self._thread: Optional[threading.Thread] = None
        self._proc: Optional[subprocess.Popen] = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.state = SetupState(running=True, stage="Creating the worker environment")
        self._thread = threading.Thread(target=self._run, daemon=True, name="scorehmr-setup")
        self._thread.start()

    def wait(self) -> SetupState:
        if self._thread is not None:
            self._thread.join()
        return self.state

    def cancel(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    def _run(self) -> None:
        try:
            self._step([self.base_python, "-m", "venv", str(self.env_dir)], 0.0, 0.1)
            expected = max(1, count_requirements(self.requirements)) * 2
            self.state.stage = "Installing the worker's packages"
            self._step(pip_install_command(str(env_python(self.env_dir)), self.requirements), 0.1, 1.0, expected)
            self.state.fraction, self.state.stage, self.state.done = 1.0, "The worker is ready", True
        except ScoreHMRError as exc:  # reported in the preferences, the thread ends normally
            self.state.error, self.state.hint = exc.message, exc.hint
        finally:
            self.state.running = False

    def _step(self, cmd: List[str], lo: float, hi: float, expected: int = 0) -> None:
        """Run one command, mapping its output lines onto the fraction ``lo .. hi``."""
        log.info("setup: %s", " ".join(cmd))
        try:
            with self._lock:
                proc = self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                     text=True, errors="replace")
        except OSError as exc:  # base interpreter missing
            raise ScoreHMRError(f"Cannot run {cmd[0]}: {exc}", "Check the Blender installation") from exc
        seen = 0
        assert proc.stdout is not None          # stdout=PIPE
        for line in proc.stdout:
            line = line.rstrip()
            self.log.append(line)
            log.debug("setup: %s", line)
            if line.startswith(("Collecting", "Installing collected")) and expected:
                seen += 1 if line.startswith("Collecting") else expected
                self.state.fraction = lo + (hi - lo) * min(0.95, seen / (expected + 1))
                self.state.stage = line[:80]
        code = proc.wait()
        self.state.fraction = hi if code == 0 else self.state.fraction
        if code != 0:
            tail = " ".join(self.log[-3:])[-300:]
            raise ScoreHMRError(f"Setting up the worker failed (exit code {code}): {tail}",
                                "Check the network connection and the system console, then try again")
