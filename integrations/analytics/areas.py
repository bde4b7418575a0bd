"""The street and community of a ticket, decided as it is filed (and for imported history).

The rules are :mod:`policies.areas` (the grid-rules file); this module only normalises the
location the way the rest of the analytics read it (``nlu.normalize``: simplified
characters, half-width digits) before asking them.
"""

from __future__ import annotations

from pathlib import Path

from integrations.analytics.text import normalized_location
from policies.areas import AreaRules, Located, load_area_rules

__all__ = ["AreaLocator"]


class AreaLocator:
    """Street and community of free-text locations (see :class:`policies.areas.AreaRules`)."""

    def __init__(self, rules: AreaRules) -> None:
        self.rules = rules

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> AreaLocator:
        """From the grid-rules file (``INTAKE_GRID_RULES_FILE``; None: the packaged one)."""
        return cls(load_area_rules(path))

    def locate(self, location: str) -> Located:
        return self.rules.locate(normalized_location(location))
