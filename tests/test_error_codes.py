"""One declaration of the error codes (server.protocol.ErrorCode): every code a worker error, an add-on error or a
comparison names is a member; the exit codes, ERROR_CODES and docs/cli.md's exit-code table are read off it."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator, Tuple

from server.errors import EXIT_CODES, JobError
from server.protocol import ERROR_CODES, ErrorCode

ROOT = Path(__file__).resolve().parents[1]
# error classes -> the position of their code argument
CODE_POSITION = {"JobError": 0, "ScoreHMRError": 2}


def _named_codes(tree: ast.AST) -> Iterator[Tuple[int, str]]:
    """(line, literal) of every string given as an error code or compared with something named *code."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = [kw.value for kw in node.keywords if kw.arg == "code"]
            if name in CODE_POSITION and len(node.args) > CODE_POSITION[name]:
                args.append(node.args[CODE_POSITION[name]])
            yield from ((a.lineno, a.value) for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any((isinstance(s, ast.Attribute) and s.attr.endswith("code")) or
                        (isinstance(s, ast.Name) and s.id.endswith("code")) for s in sides)
            if named:
                for s in sides:
                    consts = s.elts if isinstance(s, (ast.Tuple, ast.Set, ast.List)) else [s]
                    yield from ((c.lineno, c.value) for c in consts
                                if isinstance(c, ast.Constant) and isinstance(c.value, str))


def test_every_named_code_is_declared() -> None:
    declared = {code.value for code in ErrorCode}
    unknown, seen = [], 0
    for folder in ("server", "blender_scorehmr"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, value in _named_codes(ast.parse(path.read_text())):
                seen += 1
                if value not in declared:
                    unknown.append(f"{path.relative_to(ROOT)}:{line} {value!r}")
    assert seen > 50                                   # the scan finds the codes (e.g. 42 x bad_request)
    assert not unknown, "codes not declared in server.protocol.ErrorCode:\n" + "\n".join(unknown)


def test_exit_codes_and_wire_codes_come_from_the_enum() -> None:
    assert ERROR_CODES == tuple(c.value for c in ErrorCode if c.worker)
    assert EXIT_CODES == {c.value: c.exit_code for c in ErrorCode if c.worker}
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)            # one exit status per worker code
    assert JobError("no_person", "x").exit_code == 5 and JobError(ErrorCode.CANCELLED, "x").exit_code == 130
    assert f"{ErrorCode.WORKER_HUNG}" == str(ErrorCode.WORKER_HUNG) == "worker_hung" == ErrorCode("worker_hung")
    for code in ErrorCode:
        assert code.meaning and code.hint and code.exit_code >= 1
    table = (ROOT / "docs" / "cli.md").read_text()
    rows = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \|", table, re.M)}
    assert set(EXIT_CODES.values()) <= rows
