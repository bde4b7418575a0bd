"""``intake config check``: the effective configuration, and what would stop a start.

Prints every setting with its value (secrets masked) and where it came from, then the
problems: settings that would stop any start (an unsupported database or a missing
driver, an unusable Open311 or rules file) and, when the check is for production, every
reason :func:`bot.config.production_problems` gives. Nothing is written or connected to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

import yaml

from bot.config import DEV_SECRETS, aes_key_problem, production_problems, stored_dev_secrets
from core.errors import ConfigurationError
from core.settings import Settings, unknown_variables
from core.settings_doc import effective_values
from integrations.db.engine import require_driver
from integrations.dispatch.open311 import Open311Config
from policies.tickets import load_grid_rules, load_sla_rules

__all__ = ["CheckResult", "check_configuration", "print_check"]

#: what reading a rules file of the wrong shape raises (policies.tickets parses plain YAML)
_UNREADABLE_RULES = (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, KeyError, TypeError)


@dataclass
class CheckResult:
    """What ``intake config check`` found."""

    settings: Settings
    #: whether the production rules were applied
    production: bool
    #: reasons the process would refuse to start
    problems: list[str] = field(default_factory=list)
    #: worth knowing, not stopping anything (old names, unknown variables)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_configuration(
    settings: Settings, *, production: bool, environ: Mapping[str, str] | None = None
) -> CheckResult:
    """Judge ``settings`` (read without generating anything) as a start would."""
    result = CheckResult(settings, production=production, notes=settings.notes)
    if production:
        result.problems += production_problems(settings)
    else:
        problem = aes_key_problem(settings)
        if problem:
            result.problems.append(problem)
        for name, value in stored_dev_secrets(settings).items():
            if settings.origin(name) == "default":
                settings.assign(name, value, "generated")
    for check in (_database, _open311, _rules_files):
        try:
            check(settings)
        except ConfigurationError as exc:
            result.problems.append(str(exc))
    result.notes += [
        f"{name} is set but is not a setting (a typo?)" for name in unknown_variables(environ)
    ]
    return result


def _database(settings: Settings) -> None:
    require_driver(settings.effective_database_url)


def _open311(settings: Settings) -> None:
    if settings.dispatch.backend != "open311":
        return
    if Open311Config.from_settings(settings.open311) is None:
        raise ConfigurationError("DISPATCH_BACKEND=open311 needs OPEN311_URL")


def _rules_files(settings: Settings) -> None:
    for name, path, load in (
        ("INTAKE_SLA_FILE", settings.tickets.sla_file, load_sla_rules),
        ("INTAKE_GRID_RULES_FILE", settings.tickets.grid_rules_file, load_grid_rules),
    ):
        if path is None:
            continue
        try:
            load(path)
        except _UNREADABLE_RULES as exc:
            raise ConfigurationError(
                f"{name} {str(path)!r} cannot be used ({exc.__class__.__name__}: {exc})"
            ) from None


def print_check(result: CheckResult, out: TextIO) -> None:
    """The report: a table of settings, then problems and notes."""
    settings = result.settings
    mode = "production" if result.production else "development"
    print(f"intake configuration (checked as {mode})", file=out)
    rows = list(effective_values(settings))
    width = max(len(row.name) for row in rows)
    value_width = min(48, max(len(row.shown) for row in rows))
    for row in rows:
        origin = row.origin
        if origin == "generated":
            origin = f"generated ({settings.data_dir / 'dev-secrets.json'})"
        elif origin == "default" and row.name in DEV_SECRETS.values() and not result.production:
            origin = "default (generated at the first start)"
        print(f"  {row.name:<{width}}  {row.shown:<{value_width}}  {origin}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    if result.ok:
        print(f"OK: {mode} would start with this configuration", file=out)
        return
    print(f"{mode} would refuse to start:", file=out)
    for problem in result.problems:
        print(f"  - {problem}", file=out)
