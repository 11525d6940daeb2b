"""Configuration: environment overrides defaults; placeholder secrets refused in production."""

from __future__ import annotations

import secrets

import pytest
from backdrop_common.config import BaseServiceSettings
from pydantic import ValidationError


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "development")
    monkeypatch.setenv("BACKDROP_REDIS_URL", "redis://example.invalid:1/2")
    monkeypatch.setenv("BACKDROP_ACCESS_TOKEN_TTL", "60")
    settings = BaseServiceSettings()
    assert settings.redis_url == "redis://example.invalid:1/2"
    assert settings.access_token_ttl == 60


def test_placeholder_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.delenv("BACKDROP_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="BACKDROP_SECRET_KEY"):
        BaseServiceSettings()


def test_placeholder_s3_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_SECRET_KEY", STRONG)
    with pytest.raises(ValidationError, match="BACKDROP_S3_SECRET_KEY"):
        BaseServiceSettings()


STRONG = secrets.token_hex(32)


def test_real_secrets_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_SECRET_KEY", STRONG)
    # An AWS-style 40-character generated key.
    monkeypatch.setenv("BACKDROP_S3_SECRET_KEY", secrets.token_urlsafe(30))
    assert BaseServiceSettings().is_development is False


@pytest.mark.parametrize(
    "weak",
    [
        "a",
        "password",
        "CHANGEME",
        " dev-insecure-change-me",
        " " + STRONG,
        STRONG + "\n",
        "a" * 64,
        "abcabcabcabcabcabcabcabcabcabcabcabc",
        "correct horse battery",
    ],
)
def test_weak_secrets_refused_in_production(monkeypatch: pytest.MonkeyPatch, weak: str) -> None:
    # An exact-match list let "a", "password", "CHANGEME" and a leading space through.
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_S3_SECRET_KEY", STRONG)
    monkeypatch.setenv("BACKDROP_SECRET_KEY", weak)
    with pytest.raises(ValidationError, match="BACKDROP_SECRET_KEY"):
        BaseServiceSettings()


def test_test_mode_skips_the_check_only_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "test")
    monkeypatch.delenv("BACKDROP_SECRET_KEY", raising=False)
    for url in ("postgresql://127.0.0.1:5432/x", "postgresql://localhost/x", "postgresql:///x"):
        monkeypatch.setenv("BACKDROP_DATABASE_URL", url)
        assert BaseServiceSettings().is_development
    # The same switch in a deployment (services reached by name) does not skip it.
    for name, url in (
        ("BACKDROP_DATABASE_URL", "postgresql://postgres:5432/backdrop"),
        ("BACKDROP_REDIS_URL", "redis://redis.internal:6379/0"),
        ("BACKDROP_S3_ENDPOINT_URL", "http://10.0.0.5:9000"),
    ):
        monkeypatch.setenv("BACKDROP_DATABASE_URL", "postgresql://127.0.0.1/x")
        monkeypatch.setenv(name, url)
        with pytest.raises(ValidationError, match="BACKDROP_SECRET_KEY"):
            BaseServiceSettings()
        monkeypatch.delenv(name)


def test_start_up_errors_never_echo_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # A start-up error printed the tail of the S3 secret (pydantic's input_value).
    s3_secret = "s3-" + secrets.token_hex(20)
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_SECRET_KEY", "weak")
    monkeypatch.setenv("BACKDROP_S3_SECRET_KEY", s3_secret)
    monkeypatch.setenv("BACKDROP_DB_POOL_MAX", "many-" + s3_secret)
    for unset in ("BACKDROP_DB_POOL_MAX", None):
        with pytest.raises(ValidationError) as caught:
            BaseServiceSettings()
        text = str(caught.value)
        assert s3_secret[-6:] not in text and "weak" not in text.replace("Weak", "")
        if unset:
            monkeypatch.delenv(unset)


def test_wrongly_typed_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "development")
    monkeypatch.setenv("BACKDROP_ACCESS_TOKEN_TTL", "soon")
    with pytest.raises(ValidationError, match="access_token_ttl"):
        BaseServiceSettings()


def test_unknown_env_mode_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "staging")
    with pytest.raises(ValidationError, match="env"):
        BaseServiceSettings()


@pytest.mark.parametrize("weak", ["backdrop", "pw-7x", "backdrop-dev", " " + STRONG])
def test_weak_database_password_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    # The roles' passwords travel in BACKDROP_DATABASE_URL: checked like every other secret.
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_SECRET_KEY", STRONG)
    monkeypatch.setenv("BACKDROP_S3_SECRET_KEY", STRONG)
    monkeypatch.setenv("BACKDROP_DATABASE_URL", f"postgresql://backdrop_tasks:{weak}@db:5432/b")
    with pytest.raises(ValidationError, match="password in BACKDROP_DATABASE_URL") as caught:
        BaseServiceSettings()
    assert weak.strip() not in str(caught.value).replace("BACKDROP", "")


def test_database_url_with_a_real_password_or_none_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_SECRET_KEY", STRONG)
    monkeypatch.setenv("BACKDROP_S3_SECRET_KEY", STRONG)
    for url in (
        f"postgresql://backdrop_tasks:{secrets.token_hex(32)}@db:5432/b",
        "postgresql://backdrop_tasks@db:5432/b?sslmode=verify-full",  # certificate auth
    ):
        monkeypatch.setenv("BACKDROP_DATABASE_URL", url)
        assert BaseServiceSettings().database_url == url
