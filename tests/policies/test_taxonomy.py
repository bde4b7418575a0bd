"""The packaged taxonomy is the shared contract, unchanged."""

from __future__ import annotations

from pathlib import Path

from policies.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "policies" / "data" / "taxonomy.yaml"
#: the contract as this repository carries it (tests/data/shared is a copy of ../shared)
CONTRACT = ROOT / "tests" / "data" / "shared" / "taxonomy.yaml"
#: the team's folder next to the checkout, where a change to the contract is made first
TEAM_COPY = ROOT.parent / "shared" / "taxonomy.yaml"


def test_packaged_copy_matches_the_contract() -> None:
    """Against the copy in this repository always, and against ``../shared`` too where it is
    next to the checkout (a developer machine; CI has only the repository)."""
    packaged = PACKAGED.read_text("utf-8")
    assert packaged == CONTRACT.read_text("utf-8")
    if TEAM_COPY.exists():
        assert packaged == TEAM_COPY.read_text("utf-8"), "../shared/taxonomy.yaml changed: copy it"


def test_taxonomy_content() -> None:
    taxonomy = load_taxonomy()
    assert len(taxonomy.of_kind("control")) == 10
    assert len(taxonomy.report_ids) == 30
    assert len(taxonomy.faq_ids) == 24
    assert taxonomy.department("report.streetlight") == "市政照明管理处"
    assert taxonomy.is_urgent("report.elevator") and not taxonomy.is_urgent("report.noise")
    assert taxonomy.label("faq.medical.e_voucher") == "医保电子凭证激活与使用"
