"""Every module of the project starts with a docstring that says its one job.

A newcomer opening any file should learn what it is for before reading code; a module
without one fails here with its path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "nlu", "policies", "integrations", "privacy", "testing")
#: shorter than this is a placeholder ("bot package."), not a job
MIN_CHARS = 40


def modules() -> list[Path]:
    found = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert len(found) > 100, "the walk found too few modules: wrong root?"
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_starts_with_a_docstring(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text("utf-8")))
    assert docstring, f"{path.relative_to(ROOT)} has no module docstring"
    assert len(docstring) >= MIN_CHARS, f"{path.relative_to(ROOT)}: {docstring!r} says no job"


def test_public_classes_have_docstrings() -> None:
    missing = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and not ast.get_docstring(node)
    ]
    assert not missing, missing
