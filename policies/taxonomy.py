"""The intent taxonomy: the contract between NLU, policies, dispatch routing and evaluation.

A copy of ``../shared/taxonomy.yaml`` ships in the package (``policies/data/taxonomy.yaml``)
so a deployed app does not depend on the shared folder; a test keeps the two identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["Intent", "Taxonomy", "load_taxonomy"]


@dataclass(frozen=True, slots=True)
class Intent:
    """One intent id with its kind (control, report, faq) and attributes."""

    id: str
    kind: str
    zh: str
    department: str | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """All intents by id, in file order."""

    intents: dict[str, Intent]

    def of_kind(self, kind: str) -> list[Intent]:
        return [i for i in self.intents.values() if i.kind == kind]

    @property
    def report_ids(self) -> list[str]:
        return [i.id for i in self.of_kind("report")]

    @property
    def faq_ids(self) -> list[str]:
        return [i.id for i in self.of_kind("faq")]

    def department(self, intent_id: str) -> str | None:
        intent = self.intents.get(intent_id)
        return intent.department if intent else None

    def is_urgent(self, intent_id: str) -> bool:
        intent = self.intents.get(intent_id)
        return bool(intent and intent.urgent)

    def label(self, intent_id: str) -> str:
        """Chinese name of the intent (``report.streetlight`` → ``路灯不亮/损坏``)."""
        intent = self.intents.get(intent_id)
        return intent.zh if intent else intent_id


def parse_taxonomy(document: dict[str, Any]) -> Taxonomy:
    intents: dict[str, Intent] = {}
    for kind in ("control", "report", "faq"):
        for intent_id, attrs in (document.get(kind) or {}).items():
            attrs = attrs or {}
            intents[intent_id] = Intent(
                id=intent_id,
                kind=kind,
                zh=str(attrs.get("zh", intent_id)),
                department=attrs.get("department"),
                urgent=bool(attrs.get("urgent", False)),
            )
    return Taxonomy(intents)


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The packaged taxonomy (parsed once)."""
    text = resources.files("policies").joinpath("data/taxonomy.yaml").read_text("utf-8")
    return parse_taxonomy(yaml.safe_load(text))
