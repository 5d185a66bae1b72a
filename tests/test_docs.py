"""The README is a front page and docs/ the manual: every relative link between them points at a file and a heading
that exist, and every page of docs/ is linked from the README."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> Set[str]:
    """GitHub's heading anchors of ``page``: lower case, punctuation dropped, spaces to hyphens."""
    heads = [line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def links(page: Path) -> List[Tuple[str, str]]:
    """(file part, anchor part) of every relative link of ``page``."""
    out = []
    for target in LINK.findall(page.read_text()):
        if not re.match(r"[a-z]+:", target):
            path, _, anchor = target.partition("#")
            out.append((path, anchor))
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for path, anchor in links(page):
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{path}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{path}#{anchor}: no such heading")
    assert broken == []


def test_every_manual_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / path).resolve() for path, _ in links(ROOT / "README.md") if path}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


def test_the_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.index("python3 build.py demo") < text.index("python3 build.py test") < 2500
