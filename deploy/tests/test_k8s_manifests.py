"""Static checks of deploy/k8s (no cluster, no Docker).

Renders the base and every overlay with ``kubectl kustomize`` (kubectl ships kustomize) or, where
kubectl is missing, with the small PyYAML renderer below (the subset of kustomize these files
use). Then checks what a cluster would otherwise only reject at apply time, or never:
required fields, selectors that match their pods, probes on the right paths and ports,
resources, references to ConfigMaps/Secrets that exist, every BACKDROP_* variable a real
setting, the KEDA triggers one per built-in processor stream. With ``kubernetes-validate``
available (``make test-containers`` installs it in .run/tools/k8s) every built-in kind is
also validated against the Kubernetes OpenAPI schema, strictly (unknown fields fail).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())
SERVICES = {"gateway": 8080, "auth": 8081, "upload": 8082, "sweeper": 8083, "worker": 9100}
IMAGES = {
    "gateway": "gateway",
    "auth": "auth",
    "upload": "upload",
    "sweeper": "sweeper",
    "worker": "worker",
}
# Secrets the base expects the operator to create (never in git).
EXTERNAL_SECRETS = {"backdrop-secrets", "backdrop-database"}
# BACKDROP_* variables read by the images' entry point / migrate script / KEDA, not by Settings.
EXTRA_VARIABLES = {
    "BACKDROP_SERVICE",
    "BACKDROP_PORT",
    "BACKDROP_REDIS_ADDRESS",
    "BACKDROP_MIGRATE_BUCKET",
    "BACKDROP_MIGRATE_WAIT_S",
}
DNS_NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
KUBERNETES_VERSION = os.environ.get("BACKDROP_K8S_VERSION", "1.30.0")
Doc = dict[str, Any]


# ---------------------------------------------------------------------------- rendering
def kubectl_render(path: Path) -> list[Doc]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def _json6902(doc: Doc, ops: list[dict[str, Any]]) -> None:
    for op in ops:
        assert op["op"] in ("replace", "add"), f"fallback renderer: unsupported op {op}"
        *parents, last = [p for p in op["path"].split("/") if p]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = op["value"]
        else:
            node[last] = op["value"]


def _matches(doc: Doc, target: dict[str, str]) -> bool:
    if "kind" in target and doc["kind"] != target["kind"]:
        return False
    return "name" not in target or re.fullmatch(target["name"], doc["metadata"]["name"]) is not None


def python_render(path: Path) -> list[Doc]:
    """kustomize's subset used here: resources, namespace, labels, images, secretGenerator
    (literals; no hash suffix), patches (strategic-merge files as deep merges, JSON 6902)."""
    kust = yaml.safe_load((path / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for res in kust.get("resources", []):
        target = path / res
        if target.is_dir():
            docs += python_render(target)
        else:
            docs += [d for d in yaml.safe_load_all(target.read_text()) if d]
    for gen in kust.get("secretGenerator", []):
        data = dict(item.split("=", 1) for item in gen.get("literals", []))
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": gen["name"]},
                "stringData": data,
            }
        )
    for patch in kust.get("patches", []):
        if "path" in patch:
            body = yaml.safe_load((path / patch["path"]).read_text())
            key = (body["kind"], body["metadata"]["name"])
            for i, doc in enumerate(docs):
                if (doc["kind"], doc["metadata"]["name"]) == key:
                    docs[i] = _deep_merge(doc, body)
        else:
            ops = yaml.safe_load(patch["patch"])
            for doc in docs:
                if _matches(doc, patch["target"]):
                    _json6902(doc, ops)
    for label in kust.get("labels", []):
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    images = {i["name"]: i for i in kust.get("images", [])}
    for doc in docs:
        for c in _containers(doc):
            name = c["image"].split(":")[0]
            if name in images:
                img = images[name]
                c["image"] = f"{img.get('newName', name)}:{img.get('newTag', 'latest')}"
        if "namespace" in kust and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = kust["namespace"]
    return docs


def render(path: Path) -> list[Doc]:
    return kubectl_render(path) if shutil.which("kubectl") else python_render(path)


def _pod_spec(doc: Doc) -> Doc | None:
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: Doc = doc["spec"]["template"]["spec"]
        return spec
    return None


def _containers(doc: Doc) -> list[Doc]:
    spec = _pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]] if spec else []


def _by(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _strip_hash(name: str) -> str:
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def _config(docs: list[Doc]) -> Doc:
    return next(d for n, d in _by(docs, "ConfigMap").items() if _strip_hash(n) == "backdrop-config")


TREES = {"base": BASE, **{f"overlays/{p.name}": p for p in OVERLAYS}}


@pytest.fixture(scope="module", params=sorted(TREES))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    return request.param, render(TREES[request.param])


# ---------------------------------------------------------------------------- the checks
def test_every_yaml_file_parses() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 10
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            assert doc is None or isinstance(doc, dict), f


def test_there_is_a_dev_overlay() -> None:
    assert any(p.name == "dev" for p in OVERLAYS)


def test_required_fields_and_unique_names(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    seen = set()
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), (tree, doc)
        name = doc.get("metadata", {}).get("name")
        assert name and re.fullmatch(DNS_NAME, name), (tree, doc["kind"], name)
        key = (doc["kind"], doc["metadata"].get("namespace"), name)
        assert key not in seen, f"{tree}: duplicate {key}"
        seen.add(key)


def test_a_deployment_and_a_service_per_backdrop_service(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    deployments, services = _by(docs, "Deployment"), _by(docs, "Service")
    for name, port in SERVICES.items():
        assert name in deployments, f"{tree}: no Deployment {name}"
        assert name in services, f"{tree}: no Service {name}"
        (c,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert c["image"].startswith(f"backdrop/{IMAGES[name]}:"), (tree, name, c["image"])
        assert any(p["containerPort"] == port for p in c["ports"]), (tree, name)


def test_selectors_match_pods_and_services_reach_pods(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    pods = {}
    for name, dep in _by(docs, "Deployment").items():
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{tree}: {name} selects none of its pods"
        pods[name] = (labels, dep["spec"]["template"]["spec"]["containers"])
    for name, svc in _by(docs, "Service").items():
        sel = svc["spec"]["selector"]
        targets = [n for n, (labels, _) in pods.items() if sel.items() <= labels.items()]
        assert len(targets) == 1, f"{tree}: Service {name} selects {targets}"
        ports = {p.get("name") for c in pods[targets[0]][1] for p in c.get("ports", [])}
        numbers = {p["containerPort"] for c in pods[targets[0]][1] for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            assert tp in ports or tp in numbers, f"{tree}: Service {name} targets unknown port {tp}"


def test_backdrop_containers_probes_resources_security(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    for name in SERVICES:
        spec = _by(docs, "Deployment")[name]["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c[probe]["httpGet"]
            assert get["path"] == path, (tree, name, probe)
            port = port_names.get(get["port"], get["port"])
            assert port == SERVICES[name], (tree, name, probe, get["port"])
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= c["resources"][section].keys(), (tree, name, section)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{tree}: {name} needs a writable /tmp (read-only root)"
        # The service's own grace: gunicorn 20 s, worker 20 s (+ the hand-back).
        assert spec.get("terminationGracePeriodSeconds", 30) > 20, (tree, name)


def test_every_container_has_an_image_and_resources(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    for doc in docs:
        for c in _containers(doc):
            assert c.get("image"), (tree, doc["metadata"]["name"])
            assert c.get("resources", {}).get("limits"), (tree, doc["metadata"]["name"], c["name"])


def test_config_and_secret_references_exist(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    configmaps = {_strip_hash(n) for n in _by(docs, "ConfigMap")}
    secrets = {_strip_hash(n) for n in _by(docs, "Secret")}
    if tree == "base":
        secrets |= EXTERNAL_SECRETS  # created by the operator (see deploy/k8s/README.md)
    secret_keys = {
        _strip_hash(n): set((d.get("data") or {}) | (d.get("stringData") or {}))
        for n, d in _by(docs, "Secret").items()
    }
    for doc in docs:
        spec = _pod_spec(doc)
        if not spec:
            continue
        where = f"{tree}: {doc['kind']}/{doc['metadata']['name']}"
        for c in _containers(doc):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert _strip_hash(src["configMapRef"]["name"]) in configmaps, where
                if "secretRef" in src:
                    assert _strip_hash(src["secretRef"]["name"]) in secrets, where
            for env in c.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    name = _strip_hash(ref["secretKeyRef"]["name"])
                    assert name in secrets, where
                    if name in secret_keys:
                        assert ref["secretKeyRef"]["key"] in secret_keys[name], (where, env)
                if "configMapKeyRef" in ref:
                    assert _strip_hash(ref["configMapKeyRef"]["name"]) in configmaps, where
        for vol in spec.get("volumes", []):
            if "configMap" in vol:
                assert _strip_hash(vol["configMap"]["name"]) in configmaps, where
            if "secret" in vol:
                assert _strip_hash(vol["secret"]["secretName"]) in secrets, where


SETTINGS_CLASSES = (
    ("gateway.settings", "GatewaySettings"),
    ("auth_service.settings", "AuthSettings"),
    ("upload_service.settings", "UploadSettings"),
    ("sweeper.settings", "SweeperSettings"),
    ("worker.settings", "WorkerSettings"),
    ("backdrop_common.dbroles", "RoleSettings"),  # the migration's (the roles' passwords)
)


def _known_variables() -> set[str]:
    settings = pytest.importorskip("backdrop_common.config").BaseServiceSettings
    classes = [settings]
    for module, cls in SETTINGS_CLASSES:
        with contextlib.suppress(ImportError):
            classes.append(getattr(__import__(module, fromlist=[cls]), cls))
    return {f"BACKDROP_{f.upper()}" for c in classes for f in c.model_fields} | EXTRA_VARIABLES


def test_every_backdrop_variable_is_a_real_setting(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    known = _known_variables()
    names = set()
    for d in [*_by(docs, "ConfigMap").values(), *_by(docs, "Secret").values()]:
        names |= set((d.get("data") or {}) | (d.get("stringData") or {}))
    for doc in docs:
        names |= {e["name"] for c in _containers(doc) for e in c.get("env", [])}
    unknown = {n for n in names if n.startswith("BACKDROP_")} - known
    assert not unknown, f"{tree}: no service reads {sorted(unknown)} (typo?)"


def test_migration_job(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    (job,) = [d for d in docs if d["kind"] == "Job"]
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["image"].startswith("backdrop/auth:"), "migrate needs the auth image (auth schema)"
    assert c["args"] == ["migrate"]
    assert spec["restartPolicy"] in ("OnFailure", "Never")


def _database_key(c: Doc) -> str | None:
    """The key of ``backdrop-database`` a container's BACKDROP_DATABASE_URL comes from."""
    for env in c.get("env", []):
        if env["name"] == "BACKDROP_DATABASE_URL":
            ref = env["valueFrom"]["secretKeyRef"]
            assert _strip_hash(ref["name"]) == "backdrop-database", ref
            return str(ref["key"])
    return None


def test_each_container_connects_as_its_own_role(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    expected = {
        "auth": "auth-url",
        **dict.fromkeys(("gateway", "upload", "sweeper", "worker"), "tasks-url"),
    }
    for name, key in expected.items():
        (c,) = _by(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        assert _database_key(c) == key, (tree, name)
        # envFrom must not bring another URL (env wins, but a typo would fall back to it).
        for d in _by(docs, "Secret").values():
            assert "BACKDROP_DATABASE_URL" not in (
                (d.get("data") or {}) | (d.get("stringData") or {})
            )
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert _database_key(c) == "owner-url", tree
    passwords = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"][1:]}
    assert passwords == {
        "BACKDROP_DB_AUTH_PASSWORD": "auth-password",
        "BACKDROP_DB_TASKS_PASSWORD": "tasks-password",
    }
    assert _config(docs)["data"]["BACKDROP_MIGRATE_ON_START"] == "false", tree


def test_gateway_hpa(rendered: tuple[str, list[Doc]]) -> None:
    tree, docs = rendered
    hpa = _by(docs, "HorizontalPodAutoscaler")["gateway"]
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", "gateway")
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"], tree


def _builtin_processors() -> set[str]:
    meta = tomllib.loads((ROOT / "services/worker/pyproject.toml").read_text())
    return set(meta["project"]["entry-points"]["backdrop.processors"])


def test_keda_scales_workers_on_every_processor_stream(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    so = _by(docs, "ScaledObject")["worker"]
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == "worker"
    assert so["spec"]["scaleTargetRef"]["name"] in _by(docs, "Deployment")
    assert 0 <= so["spec"].get("minReplicaCount", 0) <= so["spec"]["maxReplicaCount"]
    worker = _by(docs, "Deployment")["worker"]["spec"]["template"]["spec"]["containers"][0]
    configmap = _config(docs)
    env_names = set(configmap["data"]) | {e["name"] for e in worker.get("env", [])}
    streams = []
    for trig in so["spec"]["triggers"]:
        assert trig["type"] == "redis-streams", trig
        meta = trig["metadata"]
        assert meta["consumerGroup"] == "workers"
        assert int(meta["lagCount"]) >= 1
        assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
        assert ("address" in meta) != ("addressFromEnv" in meta)
        if "addressFromEnv" in meta:
            assert meta["addressFromEnv"] in env_names, "KEDA reads it from the worker's env"
            assert re.fullmatch(r"[^:/]+:\d+", configmap["data"][meta["addressFromEnv"]])
        streams.append(meta["stream"])
    assert len(streams) == len(set(streams))
    assert set(streams) == {f"backdrop:jobs:{p}" for p in _builtin_processors()}


def test_dev_overlay_is_self_contained() -> None:
    docs = render(K8S / "overlays" / "dev")
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {"backdrop-dev"}
    assert {"postgres", "redis", "minio"} <= set(_by(docs, "Service"))
    config = _config(docs)
    # A real deployment refuses placeholder secrets; only the dev overlay may carry them.
    assert config["data"]["BACKDROP_ENV"] == "development"
    base = next(d for d in render(BASE) if d["kind"] == "ConfigMap")
    assert base["data"]["BACKDROP_ENV"] == "production"
    assert not [d for d in render(BASE) if d["kind"] == "Secret"], "no secrets in the base"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("tree", sorted(TREES))
def test_python_renderer_agrees_with_kustomize(tree: str) -> None:
    def summary(docs: list[Doc]) -> set[tuple[str, str, str, str]]:
        out = set()
        for d in docs:
            images = ",".join(sorted(c["image"] for c in _containers(d)))
            replicas = d.get("spec", {}).get("replicas")
            meta = d["metadata"]
            out.add(
                (
                    d["kind"],
                    _strip_hash(meta["name"]),
                    str(meta.get("namespace")),
                    f"{images}/{replicas}",
                )
            )
        return out

    assert summary(python_render(TREES[tree])) == summary(kubectl_render(TREES[tree]))


def _validator() -> str | None:
    candidates = (
        os.environ.get("BACKDROP_K8S_VALIDATE"),
        str(ROOT / ".run/tools/k8s/bin/kubernetes-validate"),
        shutil.which("kubernetes-validate"),
    )
    for cand in candidates:
        if cand and Path(cand).is_file():
            return cand
    return None


def test_schemas(rendered: tuple[str, list[Doc]], tmp_path: Path) -> None:
    """Every built-in kind against the Kubernetes OpenAPI schema, strictly."""
    tool = _validator()
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("kubernetes-validate is missing (make test-containers installs it)")
        pytest.skip("kubernetes-validate not installed (make test-containers installs it)")
    tree, docs = rendered
    builtin = [d for d in docs if not d["apiVersion"].startswith("keda.sh/")]
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(builtin))
    proc = subprocess.run(
        [tool, "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"{tree}:\n{proc.stdout}{proc.stderr}"
