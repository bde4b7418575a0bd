"""Data flows one way: who may import whom among the project's packages.

Read from the source (every ``import``, including those inside functions and under
``TYPE_CHECKING``), so a new backward import fails here before it becomes a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "nlu", "policies", "integrations", "privacy")
TEST_PLUMBING = ("testing", "tests", "benchmarks")

#: (importer, imported) pairs that break the direction bot → nlu / policies → integrations
FORBIDDEN = {
    *((package, "bot") for package in PRODUCT if package != "bot"),
    ("policies", "integrations"),
    ("nlu", "integrations"),
    *(("privacy", package) for package in PRODUCT if package != "privacy"),
    *((package, plumbing) for package in PRODUCT for plumbing in TEST_PLUMBING),
}


def imports(package: str) -> Iterator[tuple[Path, str]]:
    """Every module a file of ``package`` imports, as (file, top-level package)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield path, name.split(".")[0]


@pytest.mark.parametrize("package", PRODUCT)
def test_no_backward_import(package: str) -> None:
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {imported}"
        for path, imported in imports(package)
        if (package, imported) in FORBIDDEN
    )
    assert not wrong, wrong


def test_test_plumbing_is_not_shipped() -> None:
    """The package build includes the product only; ``testing`` stays in the repository."""
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    include = pyproject.split("[tool.setuptools.packages.find]", 1)[1].split("\n\n", 1)[0]
    assert all(f'"{package}*"' in include for package in PRODUCT)
    assert not any(plumbing in include for plumbing in TEST_PLUMBING)
