"""Fixtures for the add-on's tests: the add-on staged as Blender installs it, fakes, and Blender itself.

bpy is imported once per process (by the ``blender`` fixture, only if a bpy test is collected), after the
user-resource and cache folders point into a temporary directory.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKES = ROOT / "tests" / "fakes"
HERE = Path(__file__).resolve().parent
for path in (FAKES, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import blender_support  # noqa: E402  (needs the path above)

STAGED_NAME = "scorehmr_staged"


@pytest.fixture(scope="session")
def staged_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local extensions repository folder holding the staged add-on (``<repo>/blender_scorehmr``)."""
    return blender_support.stage_repo(tmp_path_factory.mktemp("ext_repo"))


@pytest.fixture(scope="session")
def addon(staged_repo: Path) -> ModuleType:
    """The staged add-on package imported without bpy (only its pure modules are used through it)."""
    if STAGED_NAME not in sys.modules:
        init = staged_repo / "blender_scorehmr" / "__init__.py"
        spec = importlib.util.spec_from_file_location(STAGED_NAME, init,
                                                      submodule_search_locations=[str(init.parent)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[STAGED_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[STAGED_NAME]


@pytest.fixture(scope="session")
def addon_dir(staged_repo: Path) -> Path:
    return staged_repo / "blender_scorehmr"


@pytest.fixture(scope="session")
def fake_pythons(tmp_path_factory: pytest.TempPathFactory):
    """``fake_pythons(mode, delay=0)`` -> path of an interpreter stand-in running the fake worker."""
    import fake_worker
    folder = tmp_path_factory.mktemp("fake_python")
    return lambda mode, delay=0.0: fake_worker.make_fake_python(folder, mode, delay)


@pytest.fixture(scope="session")
def fake_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import fake_worker
    return fake_worker.write_fake_video(tmp_path_factory.mktemp("footage") / "jump.mp4", frame_count=12, fps=24.0)


@pytest.fixture(scope="session")
def blender(tmp_path_factory: pytest.TempPathFactory, staged_repo: Path) -> blender_support.Blender:
    """bpy with the add-on enabled from a local extensions repository, as Blender loads an extension."""
    user = tmp_path_factory.mktemp("blender_user")
    return blender_support.start_blender(user, staged_repo)
