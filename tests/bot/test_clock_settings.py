"""The working-day clock files are settings: a bad one stops start-up with one line naming
the entry at fault, a good one is kept as a path for the ticket store to load."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from core.errors import ConfigurationError


def test_good_files_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text("holidays:\n  元旦: 2027-01-01\n", encoding="utf-8")
    hours = tmp_path / "hours.yaml"
    hours.write_text('default: ["08:30-12:00", "14:00-17:30"]\n', encoding="utf-8")
    monkeypatch.setenv("INTAKE_WORKDAY_CALENDAR_FILE", str(calendar))
    monkeypatch.setenv("INTAKE_OFFICE_HOURS_FILE", str(hours))
    settings = load_settings(INTAKE_DATA_DIR=tmp_path)
    assert settings.tickets.workday_calendar_file == calendar
    assert settings.tickets.office_hours_file == hours


@pytest.mark.parametrize(
    ("variable", "content", "problem"),
    [
        ("INTAKE_WORKDAY_CALENDAR_FILE", "holidays:\n  春节: 2027-02-30\n", "春节: '2027-02-30'"),
        ("INTAKE_WORKDAY_CALENDAR_FILE", "holidays: [\n", "is not valid YAML"),
        ("INTAKE_WORKDAY_CALENDAR_FILE", None, "cannot be read"),
        ("INTAKE_OFFICE_HOURS_FILE", 'default: ["9:00-18"]\n', "is not a time"),
    ],
)
def test_a_bad_file_stops_start_up(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    content: str | None,
    problem: str,
) -> None:
    path = tmp_path / "file.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv(variable, str(path))
    with pytest.raises(ConfigurationError) as error:
        load_settings(INTAKE_DATA_DIR=tmp_path)
    assert variable in str(error.value)
    assert str(path) in str(error.value) and problem in str(error.value)
