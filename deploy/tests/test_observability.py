"""deploy/observability: alert rules pass promtool (syntax and unit tests), the Prometheus
config is valid, and the Grafana dashboard is well-formed and only asks for metrics the code
exports (a renamed metric breaks this test instead of a panel)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "deploy" / "observability"
PROM = OBS / "prometheus"
DASHBOARD = OBS / "grafana" / "dashboards" / "backdrop.json"
# Histograms export _bucket/_sum/_count series under their base name.
_SUFFIXES = ("_bucket", "_sum", "_count")


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (scripts/system-packages.sh prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def _run(*args: str, cwd: Path = PROM) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_are_valid() -> None:
    _run(_promtool(), "check", "rules", "backdrop.rules.yml")


def test_rules_unit_tests_pass() -> None:
    _run(_promtool(), "test", "rules", "backdrop.rules.test.yml")


def test_compose_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = _promtool()
    config = (PROM / "prometheus.yml").read_text()
    # The container paths, pointed at this test's copies.
    (tmp_path / "token").write_text("scrape-token")
    (tmp_path / "backdrop.rules.yml").write_text((PROM / "backdrop.rules.yml").read_text())
    config = config.replace("/prometheus/secrets/metrics-token", str(tmp_path / "token"))
    config = config.replace("/etc/prometheus/rules/*.rules.yml", str(tmp_path / "*.rules.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))


def _exported_metrics() -> set[str]:
    """Every metric name defined in the services and libraries."""
    names: set[str] = set()
    for source in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        names |= set(re.findall(r'"(backdrop_[a-z0-9_]+)"', source.read_text()))
    return names


def _used_metrics(expr: str) -> set[str]:
    used = set()
    for name in re.findall(r"\b(backdrop_[a-z0-9_]+)", expr):
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        used.add(name)
    return used


def test_rules_and_dashboard_use_exported_metrics() -> None:
    exported = _exported_metrics()
    rules = yaml.safe_load((PROM / "backdrop.rules.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    unknown = set().union(*(_used_metrics(e) for e in exprs)) - exported
    assert not unknown, f"not exported by any service: {sorted(unknown)}"
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "BackdropNoLiveWorkers",
        "BackdropQueueWaitHigh",
        "BackdropTaskFailureRateHigh",
        "BackdropHttp5xxRateHigh",
        "BackdropDeadLettersGrowing",
    } <= names


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "backdrop-overview" and dashboard["title"]
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    datasource = yaml.safe_load(
        (OBS / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    for panel in panels:
        assert panel["type"] in {"stat", "timeseries"}, panel["title"]
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    provider = yaml.safe_load(
        (OBS / "grafana" / "provisioning" / "dashboards" / "backdrop.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_k8s_scrape_configs() -> None:
    monitors = list(yaml.safe_load_all((OBS / "k8s" / "servicemonitors.yaml").read_text()))
    assert {m["kind"] for m in monitors} == {"ServiceMonitor"}
    gateway = next(m for m in monitors if m["metadata"]["name"] == "backdrop-gateway")
    auth = gateway["spec"]["endpoints"][0]["authorization"]
    assert auth["credentials"] == {"name": "backdrop-secrets", "key": "BACKDROP_METRICS_TOKEN"}
    plain = yaml.safe_load((OBS / "k8s" / "prometheus-k8s.yml").read_text())
    jobs = {job["job_name"]: job for job in plain["scrape_configs"]}
    assert set(jobs) == {"backdrop", "gateway"}
    assert jobs["gateway"]["authorization"]["credentials_file"]
