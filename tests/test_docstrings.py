"""Code-wide text rules: every module says what it owns, and no docstring or comment names an issue or a work state
(the tracker is the place for those)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "blender_scorehmr", "scripts")
WORK_STATE = re.compile(r"(?i:\bissue\s*#?\d+|\bissue's\b|\bin progress\b)|\bTODO\b|\bFIXME\b|\bWIP\b")


def python_files():
    return sorted(p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_says_what_it_owns(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.split()) >= 4, f"{path.relative_to(ROOT)} has no module docstring"


def test_no_issue_or_work_state_in_code() -> None:
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in python_files()
            for n, line in enumerate(p.read_text().splitlines(), start=1) if WORK_STATE.search(line)]
    assert hits == []


def test_the_rule_catches_an_issue_name() -> None:
    assert WORK_STATE.search('"""Foot locking (issue 7, in progress)."""')
    assert not WORK_STATE.search("tissue 7 frames in progression")
