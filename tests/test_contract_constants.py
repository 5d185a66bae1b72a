"""No contract constant is written out on both sides: the add-on takes the worker's (protocol, options, result file,
body layout) from the bundled server package instead of repeating them."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ("server/protocol.py", "server/options.py", "server/result.py", "server/body/layout.py",
             "server/checks.py", "server/errors.py")


def _constants(path: Path) -> Iterator[Tuple[str, Any]]:
    """(name, value) of every module-level assignment in ``path`` whose value is a literal worth comparing: a
    tuple, list or set of two or more items, or a string of six characters or more."""
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        value = getattr(node, "value", None)
        if value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError):
            continue
        if isinstance(literal, (tuple, list, set, frozenset)) and len(literal) >= 2:
            literal = tuple(sorted(map(repr, literal))) if isinstance(literal, (set, frozenset)) else tuple(literal)
        elif not (isinstance(literal, str) and len(literal) >= 6):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                yield target.id, literal


def test_the_add_on_repeats_no_worker_contract_constant() -> None:
    worker: Dict[Any, str] = {}
    for name in CONTRACTS:
        for constant, value in _constants(ROOT / name):
            worker.setdefault(value, f"{name}:{constant}")
    repeated = [f"{path.relative_to(ROOT)}:{constant} repeats {worker[value]}"
                for path in sorted((ROOT / "blender_scorehmr").rglob("*.py"))
                for constant, value in _constants(path) if value in worker]
    assert not repeated, repeated


def test_the_check_finds_a_repeated_constant(tmp_path: Path) -> None:
    """The scan itself: a copied tuple is found, an unrelated one is not."""
    copied = tmp_path / "copied.py"
    copied.write_text('SCHEMAS = (1, 2, 3, 4)\nKEYS = ("mesh_vertices", "mesh_faces", "skin_weights")\nOWN = ("a", "b")\n')
    found = dict(_constants(copied))
    result = dict(_constants(ROOT / "server/result.py"))
    assert found["KEYS"] == result["MESH_KEYS"] and found["SCHEMAS"] == result["SUPPORTED_SCHEMAS"]
    assert found["OWN"] not in set(result.values())
