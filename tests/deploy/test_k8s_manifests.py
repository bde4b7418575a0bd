"""The Kubernetes manifests of deploy/k8s are valid and mean what they say.

Schema: strict validation against the official schemas of the oldest Kubernetes version
supported here and of the newest one ``kubernetes-validate`` ships (offline, no cluster).
Meaning: selectors, ports, probes, ConfigMaps and Secrets line up; the commands are the
CLI's; the migration Job migrates; the example Secret's placeholders stop a production
start. A broken copy of the manifests is caught (the checks can fail).
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kv
from packaging.version import Version

from bot.cli import build_parser, cmd_serve, cmd_worker
from bot.config import load_settings
from core.errors import ConfigurationError
from core.settings import RENAMED, setting_specs
from tests.deploy.k8s_check import (
    EXAMPLE_SECRET,
    Manifest,
    check_directory,
    kustomization_problems,
    load_directory,
    reference_problems,
    schema_problems,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
#: The oldest Kubernetes these manifests are for (autoscaling/v2, policy/v1 and the rest are
#: older), and the newest whose schemas the package ships.
KUBERNETES_VERSIONS = ("1.28", kv.latest_version())
#: Set in the containers, read by Python or libraries rather than by intake's settings.
CONTAINER_ENV = frozenset({"HOME", "MPLCONFIGDIR"})


def known_env() -> frozenset[str]:
    """Every variable the app reads: the settings' names (and the old names still read)."""
    names = {spec.env for spec in setting_specs()} | set(RENAMED)
    return frozenset(names | CONTAINER_ENV)


@functools.cache
def app_routes() -> frozenset[str]:
    """The paths the web app serves (built, not started, with development settings)."""
    from bot.app import create_app

    app = create_app(load_settings(INTAKE_DATA_DIR=Path(tempfile.mkdtemp(prefix="intake-k8s-"))))
    return frozenset(str(getattr(route, "path", "")) for route in app.routes)


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return load_directory(K8S)


def the(manifests: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    [found] = [m.doc for m in manifests if m.kind == kind and m.name == name]
    return found


def container(doc: dict[str, Any]) -> dict[str, Any]:
    [only] = doc["spec"]["template"]["spec"]["containers"]
    return dict(only)


# -- valid -------------------------------------------------------------------------------------


def test_the_schema_check_runs_offline_on_shipped_schemas() -> None:
    assert Version(kv.latest_version()) >= Version("1.30")
    assert "1.28" in {kv.major_minor(v) for v in kv.all_versions()}


def test_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    assert kustomization_problems(K8S) == []


def test_every_manifest_passes_the_kubernetes_schemas(manifests: list[Manifest]) -> None:
    assert len(manifests) >= 12
    assert schema_problems(manifests, KUBERNETES_VERSIONS) == []


def test_references_line_up(manifests: list[Manifest]) -> None:
    assert reference_problems(manifests, known_env=known_env(), routes=app_routes()) == []


# -- meaning -----------------------------------------------------------------------------------


def test_web_tier_scales_and_survives_disruptions(manifests: list[Manifest]) -> None:
    web = the(manifests, "Deployment", "intake-web")
    args = build_parser().parse_args(container(web)["command"][1:])
    assert container(web)["command"][0] == "intake"
    assert args.func is cmd_serve and args.no_worker and args.workers >= 2
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container(web)[probe]["httpGet"]["path"] == "/livez"
    hpa = the(manifests, "HorizontalPodAutoscaler", "intake-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "intake-web"
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = the(manifests, "PodDisruptionBudget", "intake-web")
    assert pdb["spec"]["maxUnavailable"] == 1
    service = the(manifests, "Service", "intake-web")
    assert service["spec"]["sessionAffinity"] == "None"
    ingress = the(manifests, "Ingress", "intake-web")
    annotations = (ingress["metadata"].get("annotations") or {}).keys()
    assert not [a for a in annotations if "affinity" in a or "sticky" in a]


def test_worker_runs_the_worker_with_a_heartbeat_probe(manifests: list[Manifest]) -> None:
    worker = container(the(manifests, "Deployment", "intake-worker"))
    assert build_parser().parse_args(worker["command"][1:]).func is cmd_worker
    heartbeat = {e["name"]: e.get("value") for e in worker["env"]}["INTAKE_WORKER_HEARTBEAT_FILE"]
    probe = " ".join(worker["livenessProbe"]["exec"]["command"])
    assert heartbeat in probe and "> 60" in probe
    assert heartbeat.startswith("/tmp/")  # the writable emptyDir
    assert {"mountPath": "/tmp", "name": "tmp"} in worker["volumeMounts"]


def test_postgres_and_redis_are_external_services_named_by_the_urls(
    manifests: list[Manifest],
) -> None:
    secret = the(manifests, "Secret", "intake-secrets")["stringData"]
    for name, url_key in (("intake-postgres", "DATABASE_URL"), ("intake-redis", "REDIS_URL")):
        assert the(manifests, "Service", name)["spec"]["type"] == "ExternalName"
        assert f"@{name}:" in secret[url_key]


def test_the_migration_job_migrates(
    manifests: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = container(the(manifests, "Job", "intake-migrate"))
    python, dash_m, module, *args = job["command"]
    assert (python, dash_m) == ("python", "-m")
    assert [e["name"] for e in job["env"]] == ["DATABASE_URL"]
    # Run the same command on a database of our own.
    database = tmp_path / "intake.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    migrate = __import__(module, fromlist=["main"])
    assert migrate.main(args) == 0
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"tickets", "dispatch_jobs", "alembic_version"} <= tables


def _production_env(manifests: list[Manifest]) -> dict[str, str]:
    env = dict(the(manifests, "ConfigMap", "intake-config")["data"])
    env.update(the(manifests, "Secret", "intake-secrets")["stringData"])
    # the mounted calendar ConfigMap, where the container would find it
    calendar = the(manifests, "ConfigMap", "intake-calendar")["data"]["workday-calendar.yaml"]
    path = Path(tempfile.mkdtemp(prefix="intake-k8s-")) / "workday-calendar.yaml"
    path.write_text(calendar, encoding="utf-8")
    env["INTAKE_WORKDAY_CALENDAR_FILE"] = str(path)
    return env


def test_production_refuses_to_start_with_the_example_secret(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _production_env(manifests)
    env["INTAKE_DATA_DIR"] = str(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError):
        load_settings()
    # Each placeholder on its own is refused, naming it: real values everywhere else.
    real = {
        "WECHAT_TOKEN": "q7Rk2mXw9ZpL4vTn8sYb",
        "WECHAT_APP_SECRET": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "WECHAT_ENCODING_AES_KEY": "Xq3r8Lk2Vw9Zp4Tn7Sb1Yc6Ud5Ef0Gh2Ij3Kl4Mn5Op",
        "INTAKE_ADMIN_TOKEN": "vN3kQ8rT2wX7zL5pM9sB4yC6",
        "INTAKE_PERSONAL_DATA_KEY": "hG7jK2lP9qR4sT8vW3xY6zA1bC5dE0fN",
        "INTAKE_DISPATCH_CALLBACK_SECRET": "mQ4wE8rT2yU6iO0pA3sD7fG1",
    }
    for name, value in real.items():
        monkeypatch.setenv(name, value)
    load_settings()  # the ConfigMap and the calendar are fine with real secrets
    placeholders = the(manifests, "Secret", "intake-secrets")["stringData"]
    for name in real:
        monkeypatch.setenv(name, placeholders[name])
        with pytest.raises(ConfigurationError, match=name):
            load_settings()
        monkeypatch.setenv(name, real[name])


# -- the checks can fail ----------------------------------------------------------------------


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    text = (copy / file).read_text("utf-8")
    assert old in text, f"{old!r} not in {file}"
    (copy / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


@pytest.mark.parametrize(
    ("file", "old", "new", "problem"),
    [
        # misspelt field: strict schemas know every field
        ("web.yaml", "livenessProbe:", "livenesProbe:", "Additional properties"),
        # wrong type
        ("worker.yaml", "replicas: 1", 'replicas: "one"', "is not of type 'integer'"),
        # an invalid value (maxUnavailable is an int or a percentage string)
        ("web-pdb.yaml", "maxUnavailable: 1", "maxUnavailable: [1]", "is not valid under any"),
        # references the schemas cannot see
        (
            "web-hpa.yaml",
            "name: intake-web\n  minReplicas",
            "name: intake-api\n  minReplicas",
            "scales Deployment/intake-api, not defined",
        ),
        (
            "web.yaml",
            "app.kubernetes.io/component: web\n  ports:",
            "app.kubernetes.io/component: webs\n  ports:",
            "selects no pods",
        ),
        ("ingress.yaml", "name: http", "name: https", "has no port"),
        ("configmap.yaml", "INTAKE_TIMEZONE:", "INTAKE_TIMEZON:", "TIMEZON is not a setting"),
        ("web.yaml", "path: /livez", "path: /health", "path /health not served"),
        ("worker.yaml", "claimName: intake-models", "claimName: models", "unknown claim models"),
        ("web.yaml", "name: intake-secrets", "name: intake-secret", "unknown Secret"),
        ("kustomization.yaml", "  - web-pdb.yaml\n", "", "web-pdb.yaml: not listed"),
    ],
)
def test_a_broken_manifest_is_caught(
    tmp_path: Path, file: str, old: str, new: str, problem: str
) -> None:
    broken = _broken_copy(tmp_path, file, old, new)
    problems = check_directory(
        broken, versions=KUBERNETES_VERSIONS, known_env=known_env(), routes=app_routes()
    )
    assert any(problem in line for line in problems), problems


def test_a_manifest_of_an_unknown_kind_or_version_is_an_error() -> None:
    doc = yaml.safe_load(
        "apiVersion: autoscaling/v2beta1\nkind: HorizontalPodAutoscaler\n"
        "metadata: {name: old}\nspec: {}\n"
    )
    [problem] = schema_problems([Manifest("old.yaml", doc)], ["1.28"])
    assert "Couldn't find schema" in problem
    assert (
        EXAMPLE_SECRET not in yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    )
