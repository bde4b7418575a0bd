"""Rasa 3.x NLU training data: loading into plain Python objects, and writing back.

The project keeps its intent examples in Rasa's YAML format (``nlu/data/nlu/*.yml``) so the
data stays portable to Rasa and familiar to annotators. This module is the only place that
knows that format:

* ``intent`` items: ``examples`` is a block of ``- example`` lines (or, as Rasa also allows,
  a list of ``{text, metadata}`` mappings). Examples may carry inline entity annotations,
  ``[13812345678](phone)``, ``[医保码](benefit:医保电子凭证)`` (legacy synonym form) or
  ``[朝阳区]{"entity": "district", "value": "朝阳区", "role": ...}``. They are stripped to
  plain text for the classifier and kept as :class:`EntityAnnotation` objects whose offsets
  point into the plain text.
* ``synonym``, ``regex`` and ``lookup`` items: kept as ordered mappings of name → values.

:func:`dump_rasa_yaml` writes the same structure back (re-inserting the annotations), so
``load(dump(data)) == data``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_DATA_DIR",
    "EntityAnnotation",
    "Example",
    "TrainingData",
    "TrainingDataError",
    "annotate",
    "dump_rasa_yaml",
    "load_training_data",
    "parse_annotated",
]

#: Where the project's NLU training files live (inside the package, so installs carry them).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data" / "nlu"

# ``[text](entity)``, ``[text](entity:value)`` or ``[text]{json}``. The text part may not
# contain brackets; Chinese messages use full-width 【】 for their own brackets, so an ASCII
# ``[`` immediately followed by ``](`` / ``]{`` is unambiguous in practice.
_ANNOTATION = re.compile(
    r"\[(?P<text>[^\[\]]+)\]"
    r"(?:\((?P<short>[^()]+)\)|(?P<json>\{[^{}]*\}))"
)


class TrainingDataError(ValueError):
    """A training file is not valid Rasa NLU YAML (the message names file and item)."""


@dataclass(frozen=True, slots=True)
class EntityAnnotation:
    """An entity marked up in a training example; offsets index the *plain* text."""

    entity: str
    value: str
    start: int
    end: int
    role: str | None = None
    group: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Rasa-style dict (``entity``, ``value``, ``start``, ``end`` and optional role/group)."""
        out: dict[str, Any] = {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
        }
        if self.role is not None:
            out["role"] = self.role
        if self.group is not None:
            out["group"] = self.group
        return out


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled training message."""

    text: str
    intent: str
    entities: tuple[EntityAnnotation, ...] = ()
    metadata: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


@dataclass(slots=True)
class TrainingData:
    """Everything in a set of Rasa NLU files, in file order (order matters for determinism)."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        """Intent names, sorted."""
        return sorted({ex.intent for ex in self.examples})

    def synonym_map(self) -> dict[str, str]:
        """Variant → canonical value, from ``synonym`` items and ``[x](e:value)`` annotations."""
        out: dict[str, str] = {}
        for canonical, variants in self.synonyms.items():
            for variant in variants:
                if variant and variant != canonical:
                    out[variant] = canonical
        for ex in self.examples:
            for ent in ex.entities:
                surface = ex.text[ent.start : ent.end]
                if surface and surface != ent.value:
                    out.setdefault(surface, ent.value)
        return out

    def merge(self, other: TrainingData) -> TrainingData:
        """A new object with ``other``'s content appended (list values are concatenated)."""
        merged = TrainingData(
            examples=[*self.examples, *other.examples],
            synonyms={k: list(v) for k, v in self.synonyms.items()},
            regexes={k: list(v) for k, v in self.regexes.items()},
            lookups={k: list(v) for k, v in self.lookups.items()},
        )
        for target, source in (
            (merged.synonyms, other.synonyms),
            (merged.regexes, other.regexes),
            (merged.lookups, other.lookups),
        ):
            for key, values in source.items():
                bucket = target.setdefault(key, [])
                bucket.extend(v for v in values if v not in bucket)
        return merged

    def filter(self, keep: Iterable[int]) -> TrainingData:
        """A copy holding only the examples at the given indices (used by cross-validation)."""
        return TrainingData(
            examples=[self.examples[i] for i in keep],
            synonyms=self.synonyms,
            regexes=self.regexes,
            lookups=self.lookups,
        )

    def fingerprint(self) -> str:
        """SHA-256 over a canonical JSON of the content: same data → same hash."""
        payload = {
            "examples": [
                [ex.intent, ex.text, [e.as_dict() for e in ex.entities]] for ex in self.examples
            ],
            "synonyms": self.synonyms,
            "regexes": self.regexes,
            "lookups": self.lookups,
        }
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- parsing


def parse_annotated(raw: str) -> tuple[str, list[EntityAnnotation]]:
    """Strip Rasa inline annotations from ``raw``; return plain text and the annotations.

    >>> parse_annotated("电话[13812345678](phone)")
    ('电话13812345678', [EntityAnnotation(entity='phone', value='13812345678', start=2, end=13, role=None, group=None)])
    """  # noqa: E501
    parts: list[str] = []
    entities: list[EntityAnnotation] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(raw):
        before = raw[cursor : match.start()]
        parts.append(before)
        length += len(before)
        surface = match.group("text")
        role: str | None = None
        group: str | None = None
        if match.group("short") is not None:
            name, _, value = match.group("short").partition(":")
            name = name.strip()
            value = value.strip() or surface
        else:
            try:
                spec = json.loads(match.group("json"))
            except json.JSONDecodeError as exc:
                raise TrainingDataError(f"bad entity annotation {match.group(0)!r}: {exc}") from exc
            if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str):
                raise TrainingDataError(f"entity annotation without 'entity': {match.group(0)!r}")
            name = spec["entity"]
            value = str(spec.get("value", surface))
            role = None if spec.get("role") is None else str(spec["role"])
            group = None if spec.get("group") is None else str(spec["group"])
        entities.append(
            EntityAnnotation(name, value, length, length + len(surface), role=role, group=group)
        )
        parts.append(surface)
        length += len(surface)
        cursor = match.end()
    parts.append(raw[cursor:])
    return "".join(parts), entities


def annotate(example: Example) -> str:
    """Re-insert an example's annotations in Rasa markup (inverse of :func:`parse_annotated`)."""
    out: list[str] = []
    cursor = 0
    for ent in sorted(example.entities, key=lambda e: e.start):
        surface = example.text[ent.start : ent.end]
        out.append(example.text[cursor : ent.start])
        if ent.role is None and ent.group is None and ent.value == surface:
            out.append(f"[{surface}]({ent.entity})")
        else:
            spec: dict[str, str] = {"entity": ent.entity}
            if ent.value != surface:
                spec["value"] = ent.value
            if ent.role is not None:
                spec["role"] = ent.role
            if ent.group is not None:
                spec["group"] = ent.group
            out.append(f"[{surface}]{json.dumps(spec, ensure_ascii=False)}")
        cursor = ent.end
    out.append(example.text[cursor:])
    return "".join(out)


def _block_items(block: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """Yield ``(raw_text, metadata)`` from an ``examples`` value in any Rasa-accepted shape."""
    if block is None:
        return
    if isinstance(block, str):
        for line in block.splitlines():
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("-"):
                raise TrainingDataError(f"{where}: example line must start with '- ': {line!r}")
            text = stripped[1:].strip()
            if text:
                yield text, None
        return
    if isinstance(block, list):
        for item in block:
            if isinstance(item, str):
                yield item.strip(), None
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                meta = item.get("metadata")
                yield item["text"].strip(), meta if isinstance(meta, dict) else None
            else:
                raise TrainingDataError(f"{where}: unsupported example entry {item!r}")
        return
    raise TrainingDataError(f"{where}: 'examples' must be a string block or a list")


def _plain_values(block: Any, where: str) -> list[str]:
    return [text for text, _meta in _block_items(block, where)]


def _load_document(doc: Any, source: str, into: TrainingData) -> None:
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise TrainingDataError(f"{source}: top level must be a mapping")
    items = doc.get("nlu") or []
    if not isinstance(items, list):
        raise TrainingDataError(f"{source}: 'nlu' must be a list")
    for index, item in enumerate(items):
        where = f"{source}: nlu[{index}]"
        if not isinstance(item, dict):
            raise TrainingDataError(f"{where}: item must be a mapping")
        block = item.get("examples")
        if "intent" in item:
            intent = str(item["intent"]).strip()
            if not intent:
                raise TrainingDataError(f"{where}: empty intent name")
            for raw, meta in _block_items(block, where):
                text, entities = parse_annotated(raw)
                text = text.strip()
                if text:
                    into.examples.append(Example(text, intent, tuple(entities), meta))
        elif "synonym" in item:
            bucket = into.synonyms.setdefault(str(item["synonym"]), [])
            bucket.extend(v for v in _plain_values(block, where) if v not in bucket)
        elif "regex" in item:
            bucket = into.regexes.setdefault(str(item["regex"]), [])
            bucket.extend(v for v in _plain_values(block, where) if v not in bucket)
        elif "lookup" in item:
            bucket = into.lookups.setdefault(str(item["lookup"]), [])
            bucket.extend(v for v in _plain_values(block, where) if v not in bucket)
        # Other keys (Rasa allows e.g. "version" siblings, comments) are ignored on purpose.


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            # Sorted so that the example order, and hence the model, is reproducible.
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yml", ".yaml"}))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no training data at {path}")
    return files


def load_training_data(paths: str | Path | Iterable[str | Path] = DEFAULT_DATA_DIR) -> TrainingData:
    """Load Rasa NLU YAML from files and/or directories (``*.yml``/``*.yaml``, recursively).

    Raises :class:`TrainingDataError` on malformed content and ``FileNotFoundError`` when a
    path does not exist.
    """
    data = TrainingData()
    for file in _expand(paths):
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise TrainingDataError(f"{file}: invalid YAML: {exc}") from exc
        _load_document(doc, str(file), data)
    return data


def load_training_data_from_string(text: str, source: str = "<string>") -> TrainingData:
    """Parse one Rasa NLU YAML document given as a string."""
    data = TrainingData()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TrainingDataError(f"{source}: invalid YAML: {exc}") from exc
    _load_document(doc, source, data)
    return data


# --------------------------------------------------------------------------- writing


class _Literal(str):
    """Marks a string to be emitted as a ``|`` block scalar, the way Rasa files look."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    pass


def _literal_representer(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


_Dumper.add_representer(_Literal, _literal_representer)


def _block(lines: Sequence[str]) -> _Literal:
    return _Literal("".join(f"- {line}\n" for line in lines))


def dump_rasa_yaml(data: TrainingData) -> str:
    """Serialise ``data`` as a Rasa 3.x NLU YAML document (annotations re-inserted)."""
    items: list[dict[str, Any]] = []
    grouped: dict[str, list[str]] = {}
    for ex in data.examples:
        grouped.setdefault(ex.intent, []).append(annotate(ex))
    for intent, lines in grouped.items():
        items.append({"intent": intent, "examples": _block(lines)})
    for key, mapping in (
        ("synonym", data.synonyms),
        ("regex", data.regexes),
        ("lookup", data.lookups),
    ):
        for name, values in mapping.items():
            items.append({key: name, "examples": _block(values)})
    doc = {"version": "3.1", "nlu": items}
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
