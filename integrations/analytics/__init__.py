"""Analytics core for issue 15: problem clusters (一类问题), hot spots and surges (未诉先办),
每月一题 and 三率 with the four quadrants.

Pure computation over :class:`TicketFact` records; nothing here reads or writes storage.
The rules (thresholds, windows, weights, definitions) are in :mod:`policies.clusters`;
place keys in :mod:`policies.place_key`. See ``docs/analytics.md``.
"""

from integrations.analytics.clustering import (
    Assignment,
    ClusterEngine,
    ClusterView,
    Correction,
    RebuildStats,
)
from integrations.analytics.errors import (
    AnalyticsError,
    InvalidCorrection,
    InvalidFact,
    UnknownCluster,
)
from integrations.analytics.facts import TicketFact
from integrations.analytics.hotspots import Hotspot, SurgeAlert, hotspots, surge_alerts, surge_table
from integrations.analytics.monthly import (
    MonthlyRow,
    chart_png,
    month_bounds,
    monthly_ranking,
    to_csv,
    to_markdown,
)
from integrations.analytics.rates import (
    QuadrantChart,
    QuadrantPoint,
    RateRow,
    category_difficulty,
    quadrants,
    three_rates,
)

__all__ = [
    "AnalyticsError",
    "Assignment",
    "ClusterEngine",
    "ClusterView",
    "Correction",
    "Hotspot",
    "InvalidCorrection",
    "InvalidFact",
    "MonthlyRow",
    "QuadrantChart",
    "QuadrantPoint",
    "RateRow",
    "RebuildStats",
    "SurgeAlert",
    "TicketFact",
    "UnknownCluster",
    "category_difficulty",
    "chart_png",
    "hotspots",
    "month_bounds",
    "monthly_ranking",
    "quadrants",
    "surge_alerts",
    "surge_table",
    "three_rates",
    "to_csv",
    "to_markdown",
]
