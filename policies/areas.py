"""Areas: the street (街道/镇) and community (社区/村) a ticket belongs to, and where they are.

Pure rules over the grid-rules file (``policies/data/grid_rules.yaml``, or
``INTAKE_GRID_RULES_FILE``), which the dispatch desk also reads for its grids:

* a rule's optional ``street`` and ``community`` name the areas its keywords lie in;
* the optional ``areas`` list says where each area is (``center: [lat, lon]`` and
  ``radius_m``), for the console's map (一张图): a ticket without coordinates is drawn in
  its community (else its street).

:meth:`AreaRules.locate` decides a ticket's areas, first match wins: the administrative
words of the location itself (``望京街道幸福社区3号楼``), then the first rule whose keywords
occur in it, then an area whose name occurs in it; a community known without its street
takes the street the ``areas`` list gives it. The location should already be normalised
(simplified characters, half-width digits), as ``nlu.normalize`` does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from policies.place_key import admin_parts

__all__ = [
    "Area",
    "AreaRule",
    "AreaRules",
    "Located",
    "load_area_rules",
    "parse_area_rules",
]

AreaLevel = Literal["street", "community"]
_M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True, slots=True)
class AreaRule:
    """Locations containing any of ``keywords`` lie in ``street`` / ``community``."""

    keywords: tuple[str, ...]
    street: str | None = None
    community: str | None = None


@dataclass(frozen=True, slots=True)
class Area:
    """A street or community with its place on the map (``center`` may be unknown)."""

    name: str
    level: AreaLevel
    street: str | None = None  # the street a community belongs to
    center: tuple[float, float] | None = None
    radius_m: float = 500.0


@dataclass(frozen=True, slots=True)
class Located:
    """The areas of one location (each ``None`` when nothing says)."""

    street: str | None
    community: str | None


@dataclass(frozen=True, slots=True)
class AreaRules:
    """Keyword rules and the known areas (see the module docstring)."""

    rules: tuple[AreaRule, ...] = ()
    areas: tuple[Area, ...] = ()

    def area(self, name: str | None) -> Area | None:
        if not name:
            return None
        return next((a for a in self.areas if a.name == name), None)

    def locate(self, location: str) -> Located:
        """The street and community of a (normalised) location."""
        street, community = admin_parts(location)
        if community is None or street is None:
            for rule in self.rules:
                if any(k in location for k in rule.keywords):
                    community = community or rule.community
                    street = street or rule.street
                    break
        if community is None or street is None:
            for area in self.areas:
                if area.name in location:
                    if area.level == "community" and community is None:
                        community = area.name
                    elif area.level == "street" and street is None:
                        street = area.name
        if street is None and community is not None:
            known = self.area(community)
            street = known.street if known is not None else None
        return Located(street, community)

    def position(
        self, street: str | None, community: str | None, key: str
    ) -> tuple[float, float] | None:
        """Where to draw a ticket without coordinates: a point inside its community (else
        its street), spread by ``key`` (the ticket id) so that tickets of one area do not
        all sit on one spot; None when the area's centre is unknown."""
        area = self.area(community)
        if area is None or area.center is None:
            area = self.area(street)
        if area is None or area.center is None:
            return None
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        angle = digest[0] / 256 * 2 * math.pi
        # sqrt: evenly over the disc, not bunched in its middle; 0.7: inside the outline
        distance = math.sqrt(digest[1] / 256) * 0.7 * area.radius_m
        lat, lon = area.center
        dlat = distance * math.cos(angle) / _M_PER_DEG_LAT
        metres_per_deg_lon = _M_PER_DEG_LAT * max(math.cos(math.radians(lat)), 1e-6)
        dlon = distance * math.sin(angle) / metres_per_deg_lon
        return (round(lat + dlat, 6), round(lon + dlon, 6))


def _center(value: Any, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lat, lon = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: center must be [latitude, longitude]") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{where}: center {lat}, {lon} is not a coordinate")
    return (lat, lon)


def parse_area_rules(document: Mapping[str, Any]) -> AreaRules:
    """The area rules of a grid-rules document; raises ``ValueError`` naming a bad entry."""
    rules: list[AreaRule] = []
    for entry in document.get("rules") or []:
        if not isinstance(entry, dict) or not (entry.get("street") or entry.get("community")):
            continue
        keywords = tuple(str(k) for k in entry.get("keywords") or () if str(k))
        if keywords:
            rules.append(
                AreaRule(
                    keywords,
                    str(entry["street"]) if entry.get("street") else None,
                    str(entry["community"]) if entry.get("community") else None,
                )
            )
    areas: list[Area] = []
    for index, entry in enumerate(document.get("areas") or []):
        where = f"area {index + 1}"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ValueError(f"{where}: needs a name")
        level = str(entry.get("level") or "community")
        if level not in ("street", "community"):
            raise ValueError(f"{where}: level must be street or community, not {level!r}")
        radius = float(entry.get("radius_m") or (1500.0 if level == "street" else 400.0))
        if radius <= 0:
            raise ValueError(f"{where}: radius_m must be positive")
        areas.append(
            Area(
                name=str(entry["name"]),
                level="street" if level == "street" else "community",
                street=str(entry["street"]) if entry.get("street") else None,
                center=_center(entry.get("center"), where),
                radius_m=radius,
            )
        )
    return AreaRules(tuple(rules), tuple(areas))


def load_area_rules(path: str | Path | None = None) -> AreaRules:
    """The area rules of the grid-rules file at ``path``, or of the packaged one."""
    if path is None:
        text = resources.files("policies").joinpath("data/grid_rules.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError(f"{path or 'grid_rules.yaml'}: expected a mapping at the top level")
    return parse_area_rules(document)
