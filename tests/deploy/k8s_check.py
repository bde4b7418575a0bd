"""Checks of the Kubernetes manifests in deploy/k8s, offline, with no cluster.

Two kinds of check, each returning the problems it found as lines (empty: all good):

* :func:`schema_problems`: every document against the official Kubernetes JSON schemas of
  the given versions, strictly (an unknown or misspelt field is an error). The schemas ship
  inside the ``kubernetes-validate`` package (PyPI), so nothing is downloaded.
* :func:`reference_problems`: what the schemas cannot see: selectors that select the pods
  they are meant to, ports, probes and backends that exist, ConfigMaps, Secrets and claims
  that are defined, the autoscaler's target, environment variables the app reads.

Also usable by hand after editing a copy: ``python -m tests.deploy.k8s_check deploy/k8s``.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kv

__all__ = [
    "EXAMPLE_SECRET",
    "KUSTOMIZATION",
    "Manifest",
    "check_directory",
    "kustomization_problems",
    "load_directory",
    "reference_problems",
    "schema_problems",
]

KUSTOMIZATION = "kustomization.yaml"
#: Not applied by kustomization.yaml (it would overwrite real secrets), checked all the same.
EXAMPLE_SECRET = "secret.example.yaml"


@dataclass(frozen=True)
class Manifest:
    """One document of one file."""

    file: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name", ""))

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


def load_directory(directory: Path) -> list[Manifest]:
    """Every document of the files kustomization.yaml lists, then the example Secret."""
    kustomization = yaml.safe_load((directory / KUSTOMIZATION).read_text("utf-8"))
    files = [*kustomization.get("resources", []), EXAMPLE_SECRET]
    manifests = []
    for name in files:
        path = directory / name
        if not path.is_file():
            continue  # kustomization_problems names it
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            if doc:
                manifests.append(Manifest(name, doc))
    return manifests


def kustomization_problems(directory: Path) -> list[str]:
    """kustomization.yaml lists every manifest file, and only files that exist."""
    problems = []
    kustomization = yaml.safe_load((directory / KUSTOMIZATION).read_text("utf-8"))
    if kustomization.get("kind") != "Kustomization":
        problems.append(f"{KUSTOMIZATION}: kind must be Kustomization")
    listed = list(kustomization.get("resources") or [])
    for name in listed:
        if not (directory / name).is_file():
            problems.append(f"{KUSTOMIZATION}: lists {name}, which does not exist")
    if EXAMPLE_SECRET in listed:
        problems.append(f"{KUSTOMIZATION}: must not apply {EXAMPLE_SECRET} (placeholders)")
    present = {p.name for p in directory.glob("*.yaml")} - {KUSTOMIZATION, EXAMPLE_SECRET}
    for name in sorted(present - set(listed)):
        problems.append(f"{name}: not listed in {KUSTOMIZATION}")
    return problems


def schema_problems(manifests: Iterable[Manifest], versions: Iterable[str]) -> list[str]:
    """Strict validation against the Kubernetes schemas of each version (``"1.28"``)."""
    problems = []
    for version in versions:
        for manifest in manifests:
            try:
                kv.validate(manifest.doc, version, strict=True)
            except kv.ValidationError as exc:
                where = ".".join(str(part) for part in exc.path) or "(top)"
                problems.append(f"{manifest} (Kubernetes {version}): {where}: {exc.message}")
            except kv.SchemaNotFoundError as exc:
                problems.append(f"{manifest}: {exc.message}")
    return problems


# -- references ------------------------------------------------------------------------------


def _pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    spec = manifest.doc.get("spec") or {}
    if manifest.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return dict((spec.get("template") or {}).get("spec") or {})
    return None


def _pod_labels(manifest: Manifest) -> dict[str, str]:
    template = (manifest.doc.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _containers(pod: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def reference_problems(
    manifests: list[Manifest], *, known_env: Collection[str], routes: Collection[str]
) -> list[str]:
    """Cross-references the schemas cannot check. ``known_env``: the environment variables
    the app reads (plus the few a container needs); ``routes``: the app's HTTP paths."""
    problems: list[str] = []
    by_kind: dict[str, dict[str, Manifest]] = {}
    for manifest in manifests:
        named = by_kind.setdefault(manifest.kind, {})
        if manifest.name in named:
            problems.append(f"{manifest}: defined twice")
        named[manifest.name] = manifest
    config_maps = {
        name: dict(m.doc.get("data") or {}) for name, m in by_kind.get("ConfigMap", {}).items()
    }
    secrets = {
        name: {**(m.doc.get("stringData") or {}), **(m.doc.get("data") or {})}
        for name, m in by_kind.get("Secret", {}).items()
    }
    claims = set(by_kind.get("PersistentVolumeClaim", {}))
    workloads = [m for m in manifests if _pod_spec(m) is not None]

    for name, data in config_maps.items():
        if name == "intake-config":
            for key in data:
                if key not in known_env:
                    problems.append(f"ConfigMap/{name}: {key} is not a setting the app reads")
    for name, data in secrets.items():
        for key in data:
            if key not in known_env:
                problems.append(f"Secret/{name}: {key} is not a setting the app reads")

    for workload in workloads:
        pod = _pod_spec(workload) or {}
        labels = _pod_labels(workload)
        selector = ((workload.doc.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if workload.kind != "Job" and not _selects(selector or {}, labels):
            problems.append(f"{workload}: selector {selector} does not match its pod labels")
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        for volume in volumes.values():
            if "configMap" in volume and volume["configMap"].get("name") not in config_maps:
                problems.append(f"{workload}: volume uses unknown ConfigMap {volume['configMap']}")
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is not None and claim not in claims:
                problems.append(f"{workload}: volume uses unknown claim {claim}")
        for container in _containers(pod):
            where = f"{workload} container {container.get('name')}"
            ports = {p.get("name") for p in container.get("ports") or []} | {
                p.get("containerPort") for p in container.get("ports") or []
            }
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    problems.append(f"{where}: mounts undefined volume {mount.get('name')}")
            for source in container.get("envFrom") or []:
                if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                    problems.append(f"{where}: envFrom unknown ConfigMap {source['configMapRef']}")
                if "secretRef" in source and source["secretRef"]["name"] not in secrets:
                    problems.append(f"{where}: envFrom unknown Secret {source['secretRef']}")
            for variable in container.get("env") or []:
                if variable.get("name") not in known_env:
                    problems.append(f"{where}: {variable.get('name')} is not a setting")
                ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("key") not in secrets.get(ref.get("name"), {}):
                    problems.append(f"{where}: no key {ref.get('key')} in Secret {ref.get('name')}")
                ref = (variable.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref.get("key") not in config_maps.get(ref.get("name"), {}):
                    problems.append(
                        f"{where}: no key {ref.get('key')} in ConfigMap {ref.get('name')}"
                    )
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                http = (container.get(probe_name) or {}).get("httpGet")
                if http is None:
                    continue
                if http.get("port") not in ports:
                    problems.append(f"{where}: {probe_name} port {http.get('port')} not exposed")
                if http.get("path") not in routes:
                    problems.append(f"{where}: {probe_name} path {http.get('path')} not served")

    deployments = by_kind.get("Deployment", {})
    for service in by_kind.get("Service", {}).values():
        spec = service.doc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue
        selector = spec.get("selector") or {}
        selected = [d for d in deployments.values() if _selects(selector, _pod_labels(d))]
        if not selected:
            problems.append(f"{service}: selector {selector} selects no pods")
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            exposed = {
                value
                for d in selected
                for c in _containers(_pod_spec(d) or {})
                for p in c.get("ports") or []
                for value in (p.get("name"), p.get("containerPort"))
            }
            if selected and target not in exposed:
                problems.append(f"{service}: targetPort {target} is no container port")
    services = by_kind.get("Service", {})
    for ingress in by_kind.get("Ingress", {}).values():
        for rule in (ingress.doc.get("spec") or {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                target = services.get(backend.get("name"))
                if target is None:
                    problems.append(f"{ingress}: backend Service {backend.get('name')} missing")
                    continue
                port = backend.get("port") or {}
                offered = {
                    value
                    for p in (target.doc.get("spec") or {}).get("ports") or []
                    for value in (p.get("name"), p.get("port"))
                }
                if port.get("name", port.get("number")) not in offered:
                    problems.append(f"{ingress}: {target} has no port {port}")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = (hpa.doc.get("spec") or {}).get("scaleTargetRef") or {}
        target = by_kind.get(str(ref.get("kind")), {}).get(str(ref.get("name")))
        if target is None:
            problems.append(f"{hpa}: scales {ref.get('kind')}/{ref.get('name')}, not defined")
            continue
        uses_cpu = any(
            (m.get("resource") or {}).get("name") == "cpu"
            for m in (hpa.doc.get("spec") or {}).get("metrics") or []
        )
        for container in _containers(_pod_spec(target) or {}):
            requests = (container.get("resources") or {}).get("requests") or {}
            if uses_cpu and "cpu" not in requests:
                problems.append(f"{hpa}: {target} requests no CPU (the utilisation's base)")
    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        selector = ((pdb.doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not any(_selects(selector, _pod_labels(d)) for d in deployments.values()):
            problems.append(f"{pdb}: selector {selector} selects no pods")
    return problems


def check_directory(
    directory: Path, *, versions: Iterable[str], known_env: Collection[str], routes: Collection[str]
) -> list[str]:
    manifests = load_directory(directory)
    return [
        *kustomization_problems(directory),
        *schema_problems(manifests, versions),
        *reference_problems(manifests, known_env=known_env, routes=routes),
    ]


if __name__ == "__main__":  # pragma: no cover - a tool for people editing manifests
    from tests.deploy.test_k8s_manifests import KUBERNETES_VERSIONS, app_routes, known_env

    found = check_directory(
        Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/k8s"),
        versions=KUBERNETES_VERSIONS,
        known_env=known_env(),
        routes=app_routes(),
    )
    print("\n".join(found) or "all manifests valid")
    raise SystemExit(1 if found else 0)
