"""docs/architecture.md stays true: its layer picture shows the imports the code has, the
message path and the rule table name modules that exist."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def drawing() -> ModuleType:
    """docs/draw_architecture.py, the script that draws the pictures."""
    path = ROOT / "docs" / "draw_architecture.py"
    spec = importlib.util.spec_from_file_location("draw_architecture", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_the_layer_picture_shows_the_imports_the_code_has() -> None:
    draw = drawing()
    svg = draw.LAYERS_SVG.read_text("utf-8").replace("&gt;", ">")
    drawn = set(re.findall(r">([a-z]+) -> ([a-z]+)<", svg))
    assert drawn == draw.import_edges(), (
        "the imports changed: run .venv/bin/python docs/draw_architecture.py and check "
        "docs/architecture.md"
    )


def test_the_message_path_names_modules_that_exist() -> None:
    for _, where in drawing().MESSAGE_PATH:
        for path in where.split(", "):
            assert (ROOT / path).exists(), path


def test_every_path_in_the_document_exists_and_both_pictures_are_shown() -> None:
    text = DOC.read_text("utf-8")
    paths = re.findall(r"`((?:bot|nlu|policies|integrations|privacy|testing|tests)/[^`:]*)`", text)
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p.split(" ")[0]).exists()]
    assert not missing, missing
    assert "architecture-layers.svg" in text and "message-path.svg" in text
