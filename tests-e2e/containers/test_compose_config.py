"""docker-compose.yml / docker-compose.local.yml as users get them (no engine needed).

`docker-compose config` validates and resolves the files (v1 here; `docker compose config`
where only v2 exists); the checks then read the resolved model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "BACKDROP_SECRET_KEY": "3f1e0c9a8b7d6e5f4a3b2c1d0e9f8a7b",
    "POSTGRES_PASSWORD": "9c8b7a6d5e4f3a2b",
    "BACKDROP_DB_AUTH_PASSWORD": "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
    "BACKDROP_DB_TASKS_PASSWORD": "5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a",
    "BACKDROP_S3_SECRET_KEY": "a1b2c3d4e5f6a7b8c9d0",
}
LONG_RUNNING = {"postgres", "redis", "minio", "auth", "gateway", "upload", "sweeper", "worker"}


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if os.environ.get("CI"):
        pytest.fail("neither docker-compose nor docker compose is installed")
    pytest.skip("no docker-compose")


def config(*files: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment and an empty env file: a developer's .env or shell must not leak in.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    args = [*_compose(), "--env-file", str(env_file)]
    for f in files:
        args += ["-f", str(ROOT / f)]
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
    return subprocess.run(
        [*args, "config"], capture_output=True, text=True, env={**clean, **env}, cwd=ROOT
    )


def _target(port: Any) -> int:
    """Container port of a ports entry: long syntax (v2) or "host:port:target/proto" (v1)."""
    if isinstance(port, dict):
        return int(port["target"])
    return int(str(port).split("/")[0].rsplit(":", 1)[-1])


SETTINGS_CLASSES = (
    ("gateway.settings", "GatewaySettings"),
    ("auth_service.settings", "AuthSettings"),
    ("upload_service.settings", "UploadSettings"),
    ("sweeper.settings", "SweeperSettings"),
    ("worker.settings", "WorkerSettings"),
    ("backdrop_common.dbroles", "RoleSettings"),  # the migration's (the roles' passwords)
)


def _known_variables() -> set[str]:
    """BACKDROP_* names some Settings class reads (+ the entry point's own)."""
    from backdrop_common.config import BaseServiceSettings

    classes: list[Any] = [BaseServiceSettings]
    for module, cls in SETTINGS_CLASSES:
        classes.append(getattr(__import__(module, fromlist=[cls]), cls))
    names = {f"BACKDROP_{f.upper()}" for c in classes for f in c.model_fields}
    return names | {"BACKDROP_SERVICE", "BACKDROP_PORT"}


def resolved(tmp_path: Path, *files: str) -> dict[str, Any]:
    proc = config(*files, env=SECRETS, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = yaml.safe_load(proc.stdout)
    return doc


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_refuses_to_start_without_each_secret(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != missing}
    proc = config("docker-compose.yml", env=env, tmp_path=tmp_path)
    assert proc.returncode != 0
    assert missing in proc.stderr


def test_main_file(tmp_path: Path) -> None:
    every = resolved(tmp_path, "docker-compose.yml")["services"]
    # Opt-in services (``--profile observability``) are checked in test_observability_profile.
    services = {name: s for name, s in every.items() if not s.get("profiles")}
    assert LONG_RUNNING | {"migrate"} == set(services)
    # Only the gateway and the S3 API are published.
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"gateway", "minio"}
    targets = {name: {_target(p) for p in ports} for name, ports in published.items()}
    assert targets == {"gateway": {8080}, "minio": {9000}}
    for name in LONG_RUNNING:
        s = services[name]
        assert s.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert s.get("restart") == "unless-stopped", name
    # Order: infrastructure healthy -> migrate completed -> services -> gateway.
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"] and migrate["image"].startswith("backdrop/auth:")
    assert {k: v["condition"] for k, v in migrate["depends_on"].items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "minio": "service_healthy",
    }
    for name in ("auth", "upload", "sweeper", "worker", "gateway"):
        deps = {k: v["condition"] for k, v in services[name]["depends_on"].items()}
        assert deps["migrate"] == "service_completed_successfully", name
        assert {deps[i] for i in ("postgres", "redis", "minio")} == {"service_healthy"}, name
    gw = {k: v["condition"] for k, v in services["gateway"]["depends_on"].items()}
    assert gw["auth"] == gw["upload"] == "service_healthy"
    assert services["worker"]["deploy"]["replicas"] == 3
    assert "--appendonly" in services["redis"]["command"]
    assert services["sweeper"]["image"].startswith("backdrop/sweeper:")
    for name in ("migrate", "auth", "gateway", "upload", "sweeper", "worker"):
        env = services[name]["environment"]
        assert env["BACKDROP_ENV"] == "production", name
        assert env["BACKDROP_SECRET_KEY"] == SECRETS["BACKDROP_SECRET_KEY"], name
        assert env["BACKDROP_S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert env["BACKDROP_S3_PUBLIC_ENDPOINT_URL"] == "http://localhost:9000", name
        assert services[name].get("read_only") is True, name


def test_each_service_connects_as_its_own_role(tmp_path: Path) -> None:
    services = resolved(tmp_path, "docker-compose.yml")["services"]

    def user_and_password(name: str) -> tuple[str | None, str | None]:
        url = urlsplit(services[name]["environment"]["BACKDROP_DATABASE_URL"])
        return url.username, url.password

    # Only the one-shot migration is the owner; it sets the roles' passwords from .env.
    assert user_and_password("migrate") == ("backdrop", SECRETS["POSTGRES_PASSWORD"])
    migrate_env = services["migrate"]["environment"]
    for role in ("AUTH", "TASKS"):
        key = f"BACKDROP_DB_{role}_PASSWORD"
        assert migrate_env[key] == SECRETS[key]
    assert user_and_password("auth") == ("backdrop_auth", SECRETS["BACKDROP_DB_AUTH_PASSWORD"])
    for name in ("gateway", "upload", "worker", "sweeper"):
        expected = ("backdrop_tasks", SECRETS["BACKDROP_DB_TASKS_PASSWORD"])
        assert user_and_password(name) == expected, name
    for name in ("auth", "gateway", "upload", "worker", "sweeper"):
        env = services[name]["environment"]
        # A role may not change a schema: migrating at start would fail.
        assert str(env["BACKDROP_MIGRATE_ON_START"]).lower() == "false", name
        # No service but the migration sees the owner's or another role's password.
        for key in ("POSTGRES_PASSWORD", "BACKDROP_DB_AUTH_PASSWORD", "BACKDROP_DB_TASKS_PASSWORD"):
            assert SECRETS[key] not in str(env) or key.endswith(
                "AUTH_PASSWORD" if name == "auth" else "TASKS_PASSWORD"
            ), (name, key)


def test_observability_profile(tmp_path: Path) -> None:
    services = resolved(tmp_path, "docker-compose.yml")["services"]
    opt_in = {name for name, s in services.items() if s.get("profiles")}
    assert opt_in == {"prometheus", "grafana"}
    for name in opt_in:
        assert services[name]["profiles"] == ["observability"]
        for port in services[name]["ports"]:  # loopback unless the operator says otherwise
            assert str(port.get("host_ip", port) if isinstance(port, dict) else port).startswith(
                "127.0.0.1"
            ), (name, port)
    mounts = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "deploy/observability/grafana/dashboards" in mounts


def test_every_backdrop_variable_is_a_real_setting(tmp_path: Path) -> None:
    services = resolved(tmp_path, "docker-compose.yml")["services"]
    names = {k for s in services.values() for k in (s.get("environment") or {})}
    unknown = {n for n in names if n.startswith("BACKDROP_")} - _known_variables()
    assert not unknown, f"no service reads {sorted(unknown)}"
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    compose_text = (ROOT / "docker-compose.yml").read_text()
    compose_vars = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))
    missing = compose_vars - documented
    assert not missing, f"variables of docker-compose.yml not in .env.example: {missing}"


def test_local_override(tmp_path: Path) -> None:
    services = resolved(tmp_path, "docker-compose.yml", "docker-compose.local.yml")["services"]
    assert services["postgres"]["image"] == "backdrop/local-postgres:15"
    assert services["redis"]["image"] == "backdrop/local-redis:7"
    assert services["minio"]["image"] == "backdrop/local-s3:moto"
    for name in ("migrate", "auth", "gateway", "upload", "sweeper", "worker"):
        build = services[name]["build"]
        assert build["dockerfile"] == "deploy/docker/Dockerfile", name
        assert build["args"]["BASE_IMAGE"] == "backdrop/python-base:bookworm", name
    # Opt-in services (the observability profile) are test_observability_profile's.
    assert {n for n, s in services.items() if not s.get("profiles")} == LONG_RUNNING | {"migrate"}
