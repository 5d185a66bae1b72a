"""Import boundaries (DESIGN.md): bpy & co. only in blender_scorehmr/, torch only in server/."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLENDER_MODULES = {"bpy", "bpy_extras", "mathutils", "bmesh", "addon_utils", "bl_math"}
TORCH_MODULES = {"torch", "torchvision"}
# Add-on modules that must import without Blender (tests and the worker-side tooling use them).
PURE_ADDON_MODULES = ("worker_client.py", "worker_setup.py", "motion.py", "rotations.py", "errors.py",
                      "action_math.py")


def imports(path: Path, top_level_only: bool = False) -> Iterator[Tuple[str, int]]:
    """(top-level package name, line) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def offenders(folder: Path, banned: Set[str]) -> list:
    return [f"{p.relative_to(ROOT)}:{line} imports {name}"
            for p in sorted(folder.rglob("*.py")) for name, line in imports(p) if name in banned]


def test_no_blender_in_the_worker():
    assert offenders(ROOT / "server", BLENDER_MODULES) == []


def test_no_torch_in_the_addon():
    assert offenders(ROOT / "blender_scorehmr", TORCH_MODULES) == []


def test_addon_init_imports_bpy_only_inside_functions():
    init = ROOT / "blender_scorehmr" / "__init__.py"
    assert [name for name, _ in imports(init, top_level_only=True) if name in BLENDER_MODULES] == []


@pytest.mark.parametrize("name", PURE_ADDON_MODULES)
def test_pure_addon_modules_do_not_import_bpy(name):
    assert [n for n, _ in imports(ROOT / "blender_scorehmr" / name) if n in BLENDER_MODULES] == []


def _server_modules_used_by_addon() -> Set[Path]:
    """Files of the bundled worker that the add-on imports (``from .server... import``), transitively."""
    todo, seen = [], set()
    for path in (ROOT / "blender_scorehmr").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and (node.module or "").startswith("server"):
                base = ROOT / Path(*node.module.split("."))
                todo += [base] + [base / alias.name for alias in node.names]
    while todo:
        base = todo.pop()
        path = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        if path in seen or not path.exists():  # a name imported from a package, not a submodule
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                anchor = path.parent
                for _ in range(node.level - 1):
                    anchor = anchor.parent
                module = anchor / Path(*(node.module or "").split("."))
                todo += [module] + [module / alias.name for alias in node.names]
    return seen


def test_worker_code_the_addon_imports_is_light():
    """Blender's Python has numpy but no torch/cv2/mediapipe: the shared worker modules must not need them."""
    used = _server_modules_used_by_addon()
    assert ROOT / "server" / "protocol.py" in used
    heavy = TORCH_MODULES | {"cv2", "mediapipe", "scipy"}
    assert [f"{p.relative_to(ROOT)} imports {n}" for p in sorted(used) for n, _ in imports(p) if n in heavy] == []
