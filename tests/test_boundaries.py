"""Import boundaries (DESIGN.md): bpy & co. only in blender_scorehmr/, torch only in server/."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLENDER_MODULES = {"bpy", "bpy_extras", "mathutils", "bmesh", "addon_utils", "bl_math"}
TORCH_MODULES = {"torch", "torchvision"}
# The add-on's modules that must import without Blender (tests, the type check): its core/ package.
CORE = ROOT / "blender_scorehmr" / "core"
PURE_ADDON_MODULES = tuple(sorted(p.name for p in CORE.glob("*.py")))


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
    assert [n for n, _ in imports(CORE / name) if n in BLENDER_MODULES] == []


def test_the_addon_keeps_its_pure_modules_apart():
    """Every add-on module above core/ uses Blender (imports bpy), so code that does not lives in core/."""
    above = [p for p in (ROOT / "blender_scorehmr").glob("*.py") if p.name != "__init__.py"]
    assert above and [p.name for p in above if not any(n in BLENDER_MODULES for n, _ in imports(p))] == []


def _server_modules_used_by_addon() -> Set[Path]:
    """Files of the bundled worker that the add-on imports (``from .server... import``, ``from ..server...`` in
    core/), transitively."""
    todo, seen = [], set()
    bundled = ROOT / "blender_scorehmr" / "server"   # where build.py puts the worker inside the add-on
    for path in (ROOT / "blender_scorehmr").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                anchor = path.parent
                for _ in range(node.level - 1):
                    anchor = anchor.parent
                base = anchor / Path(*(node.module or "").split("."))
                if base == bundled or bundled in base.parents:
                    base = ROOT / "server" / base.relative_to(bundled)
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def server_import_graph() -> Dict[str, Set[str]]:
    """Module -> the server modules it imports (every import: top level, inside functions, under TYPE_CHECKING)."""
    files = {_module_name(p): p for p in (ROOT / "server").rglob("*.py")}
    graph: Dict[str, Set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else (node.module or "")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected parts of ``graph`` with more than one node (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            part = []
            while True:
                other = stack.pop()
                part.append(other)
                if other == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_server_modules_import_without_cycles():
    assert cycles(server_import_graph()) == []


def test_server_packages_import_one_way():
    """Packages (and top-level modules) of server/ never import each other back, even through others."""
    def unit(name: str) -> str:
        return ".".join(name.split(".")[:2])
    packages: Dict[str, Set[str]] = {}
    for name, targets in server_import_graph().items():
        packages.setdefault(unit(name), set()).update(unit(t) for t in targets if unit(t) != unit(name))
    assert cycles(packages) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
