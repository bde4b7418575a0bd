"""Issue 14: one configuration — one name per setting, old names for a release, the README's
table generated from the settings, ``intake config check``, and the defects it fixed."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from core.errors import ConfigurationError
from core.settings import RENAMED, Settings, setting_specs
from core.settings_doc import TABLE_BEGIN, TABLE_END, markdown_table
from nlu.model import latest_model_path
from tests.bot.test_cli_and_config import ROOT, _env
from tests.bot.test_production_safety import GOOD
from tests.nlu.test_nlu_cli import DATA

PRODUCT = ("core", "bot", "nlu", "policies", "integrations", "privacy")


def _intake(tmp: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``intake ARGS`` in a fresh process, with only ``variables`` of ours set."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(tmp, **variables),
        timeout=120,
    )


# -- one name per setting ---------------------------------------------------------------------


def test_every_setting_has_one_name_and_a_meaning() -> None:
    names = [spec.env for spec in setting_specs()]
    assert len(names) == len(set(names))
    assert all(spec.doc for spec in setting_specs())
    # An old name is never also a setting of its own, and points at one that exists.
    assert not set(RENAMED) & set(names)
    assert set(RENAMED.values()) <= set(names)


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8")):
                readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["core/settings.py"]


def test_an_old_name_still_works_for_a_release_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="core.settings"):
        settings = Settings.read({"OPEN311_POLL_SECONDS": "120"})
    assert settings.dispatch.poll_seconds == 120
    assert settings.origin("INTAKE_DISPATCH_POLL_SECONDS") == "env OPEN311_POLL_SECONDS"
    assert caplog.messages == [
        "OPEN311_POLL_SECONDS is deprecated and stops working in the next release: rename it "
        "to INTAKE_DISPATCH_POLL_SECONDS"
    ]


def test_the_new_name_wins_over_the_old_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="core.settings"):
        settings = Settings.read(
            {"OPEN311_POLL_SECONDS": "120", "INTAKE_DISPATCH_POLL_SECONDS": "60"}
        )
    assert settings.dispatch.poll_seconds == 60
    assert settings.origin("INTAKE_DISPATCH_POLL_SECONDS") == "env"
    assert caplog.messages == [
        "OPEN311_POLL_SECONDS is ignored: it is the old name of INTAKE_DISPATCH_POLL_SECONDS, "
        "which is set"
    ]


def test_a_bad_value_is_one_line_naming_the_variable_and_a_secret_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as bad:
        Settings.read({"INTAKE_PORT": "eighty"})
    assert str(bad.value) == (
        "invalid setting INTAKE_PORT: Input should be a valid integer, unable to parse string "
        "as an integer (got 'eighty')"
    )
    with pytest.raises(ConfigurationError, match="INTAKE_LOG_LEVEL: must be one of"):
        Settings.read({"INTAKE_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigurationError, match="INTAKE_TIMEZONE: unknown time zone"):
        Settings.read({"INTAKE_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigurationError, match="NOT_A_SETTING is not a setting"):
        Settings.read({}, NOT_A_SETTING=1)


def test_empty_variables_count_as_unset() -> None:
    """Compose files write ``VAR: ""`` for "not set"."""
    settings = Settings.read({"INTAKE_PORT": "", "WECHAT_ENCODING_AES_KEY": "  "})
    assert settings.server.port == 8000 and settings.wechat.encoding_aes_key is None
    assert settings.origin("INTAKE_PORT") == "default"


# -- the README's table -----------------------------------------------------------------------


def test_the_readme_table_is_the_one_generated_from_the_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(TABLE_BEGIN), readme.index(TABLE_END) + len(TABLE_END)
    documented = readme[start:end]
    # Name by name first, so that a failure says what drifted.
    listed = re.findall(r"^\| `([A-Z0-9_]+)` \|", documented, flags=re.M)
    assert listed == [spec.env for spec in setting_specs()]
    assert documented == markdown_table(), "run `intake config table` and paste its output"


def test_intake_config_table_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "table"]) == 0
    assert capsys.readouterr().out == markdown_table() + "\n"


# -- intake config check ----------------------------------------------------------------------


def test_config_check_shows_the_effective_configuration_with_secrets_masked(
    tmp_path: Path,
) -> None:
    secret = "Zq4wTn8uKc2hRb6yLp0xq"
    run = _intake(
        tmp_path,
        "config",
        "check",
        WECHAT_TOKEN=secret,
        INTAKE_PORT="8100",
        REDIS_URL="redis://:hunter2@127.0.0.1:6379/0",
        OPEN311_POLL_SECONDS="90",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert secret not in out and "hunter2" not in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert rows["WECHAT_TOKEN"].split()[1:] == ["******", "(21", "characters)", "env"]
    assert rows["INTAKE_PORT"].split()[1:] == ["8100", "env"]
    assert rows["INTAKE_HOST"].split()[1:] == ["127.0.0.1", "default"]
    assert rows["REDIS_URL"].split()[1:] == ["redis://:***@127.0.0.1:6379/0", "env"]
    assert rows["INTAKE_DISPATCH_POLL_SECONDS"].split()[1:] == [
        "90",
        "env",
        "OPEN311_POLL_SECONDS",
    ]
    assert rows["INTAKE_ADMIN_TOKEN"].endswith("default (generated at the first start)")
    assert "note: OPEN311_POLL_SECONDS is deprecated" in out
    assert out.rstrip().endswith("OK: development would start with this configuration")
    assert not (tmp_path / "dev-secrets.json").exists()  # a check writes nothing


def test_config_check_refuses_what_production_would_refuse_and_says_why(
    tmp_path: Path,
) -> None:
    good = {name: str(value) for name, value in GOOD.items()}
    assert _intake(tmp_path, "config", "check", **good).returncode == 0
    weak = {
        **good,
        "INTAKE_ADMIN_TOKEN": "your-admin-token-here",
        "WECHAT_APP_SECRET": "changeme-please-1234",
    }
    run = _intake(tmp_path, "config", "check", **weak)
    assert run.returncode == 1
    problems = run.stdout.split("production would refuse to start:\n")[1].splitlines()
    assert problems == [
        "  - WECHAT_APP_SECRET looks like a placeholder: use a random value of your own",
        "  - INTAKE_ADMIN_TOKEN looks like a placeholder: use a random value of your own",
    ]
    assert "your-admin-token-here" not in run.stdout


def test_config_check_for_production_from_a_development_machine(tmp_path: Path) -> None:
    run = _intake(tmp_path, "config", "check", "--production")
    assert run.returncode == 1
    assert "  - WECHAT_TOKEN is not set (required when INTAKE_ENV=production)" in run.stdout
    assert "  - REDIS_URL is not set" in run.stdout


def test_config_check_names_a_bad_value_in_one_line(tmp_path: Path) -> None:
    run = _intake(tmp_path, "config", "check", INTAKE_REPLY_DEADLINE="9")
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "intake: configuration error: invalid setting INTAKE_REPLY_DEADLINE: Input should be "
        "less than or equal to 4.8 (got '9')"
    ]


# -- defects ------------------------------------------------------------------------------------


def test_nlu_train_writes_the_model_where_intake_model_dir_says(tmp_path: Path) -> None:
    """Issue 14: ``intake nlu train`` wrote to ``<data dir>/models`` even with
    ``INTAKE_MODEL_DIR`` set (and now the segmenter's cache follows its setting too)."""
    data = tmp_path / "small.yml"
    data.write_text(DATA, encoding="utf-8")
    run = _intake(
        tmp_path,
        "nlu",
        "train",
        "--data",
        str(data),
        INTAKE_DATA_DIR=str(tmp_path / "data"),
        INTAKE_MODEL_DIR=str(tmp_path / "models"),
        INTAKE_JIEBA_CACHE_DIR=str(tmp_path / "jieba"),
    )
    assert run.returncode == 0, run.stderr
    assert latest_model_path(tmp_path / "models") is not None
    assert not (tmp_path / "data" / "models").exists()
    assert (tmp_path / "jieba" / "jieba.cache").is_file()


def test_postgres_without_its_driver_is_one_sentence_saying_what_to_install(
    tmp_path: Path,
) -> None:
    """Issue 14: ``DATABASE_URL=postgresql://…`` without the ``postgres`` extra died with a
    ModuleNotFoundError traceback. Simulated: the import of psycopg fails."""
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # as if `pip install intake` without [postgres]\n"
        "from bot.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    expected = [
        "intake: configuration error: DATABASE_URL is a PostgreSQL database, but its driver "
        "(psycopg) is not installed: pip install 'intake[postgres]'"
    ]
    for command in (["serve"], ["worker"], ["config", "check"]):
        run = subprocess.run(
            [sys.executable, "-c", code, *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=_env(tmp_path, DATABASE_URL="postgresql://intake@127.0.0.1:5432/intake"),
            timeout=120,
        )
        if command[0] == "config":
            assert run.returncode == 1
            assert f"  - {expected[0].removeprefix('intake: configuration error: ')}" in (
                run.stdout
            )
        else:
            assert run.returncode == 2, run.stderr
            assert run.stderr.splitlines() == expected, command
