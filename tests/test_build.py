"""build.py: the staged add-on and the extension zip pass Blender's own validator, with the worker inside."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402  (build.py lives at the repository root)

pytestmark = pytest.mark.slow   # Blender's extension tool


@pytest.fixture(scope="module")
def tool() -> Path:
    return build.blender_ext_tool()


def test_stage_bundles_worker(tmp_path: Path) -> None:
    staged = build.stage(tmp_path / "blender_scorehmr")
    assert (staged / "blender_manifest.toml").is_file()
    assert (staged / "__init__.py").is_file()
    assert (staged / "server" / "protocol.py").is_file()
    assert (staged / "server" / "requirements.txt").is_file()
    assert not list(staged.rglob("__pycache__"))
    assert not (staged / "server" / "train").exists() and not (staged / "server" / "data").exists()
    # every runtime module of the bundled worker imports without the training code
    code = ("import importlib, pkgutil, server\n"
            "names = [m.name for m in pkgutil.walk_packages(server.__path__, 'server.') if m.name != 'server.__main__']\n"
            "[importlib.import_module(n) for n in names]\n"
            "print(len(names))")
    done = subprocess.run([sys.executable, "-c", code], cwd=staged, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 80


def test_zip_builds_and_validates(tmp_path: Path, tool: Path) -> None:
    staged = build.stage(tmp_path / "blender_scorehmr")
    out = tmp_path / "dist"
    out.mkdir()
    subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(staged), "--output-dir", str(out)],
                   check=True, capture_output=True, text=True)
    package = next(out.glob("blender_scorehmr-*.zip"))
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    assert "blender_manifest.toml" in names and "server/__main__.py" in names and "__init__.py" in names
    for target in (staged, package):
        check = subprocess.run([sys.executable, str(tool), "validate", str(target)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
