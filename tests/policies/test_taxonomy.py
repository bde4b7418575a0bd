"""The packaged taxonomy is the shared contract, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.taxonomy import load_taxonomy

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "taxonomy.yaml"
PACKAGED = Path(__file__).resolve().parents[2] / "policies" / "data" / "taxonomy.yaml"


def test_packaged_copy_matches_shared() -> None:
    if not SHARED.exists():
        pytest.skip("../shared/taxonomy.yaml not present")
    assert PACKAGED.read_text("utf-8") == SHARED.read_text("utf-8")


def test_taxonomy_content() -> None:
    taxonomy = load_taxonomy()
    assert len(taxonomy.of_kind("control")) == 10
    assert len(taxonomy.report_ids) == 30
    assert len(taxonomy.faq_ids) == 24
    assert taxonomy.department("report.streetlight") == "市政照明管理处"
    assert taxonomy.is_urgent("report.elevator") and not taxonomy.is_urgent("report.noise")
    assert taxonomy.label("faq.medical.e_voucher") == "医保电子凭证激活与使用"
