"""Configuration: environment overrides defaults; placeholder secrets refused in production."""

from __future__ import annotations

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
    monkeypatch.setenv("BACKDROP_SECRET_KEY", "a-real-secret-of-some-length")
    with pytest.raises(ValidationError, match="BACKDROP_S3_SECRET_KEY"):
        BaseServiceSettings()


def test_real_secrets_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "production")
    monkeypatch.setenv("BACKDROP_SECRET_KEY", "a-real-secret-of-some-length")
    monkeypatch.setenv("BACKDROP_S3_SECRET_KEY", "another-real-secret")
    assert BaseServiceSettings().is_development is False


def test_wrongly_typed_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "development")
    monkeypatch.setenv("BACKDROP_ACCESS_TOKEN_TTL", "soon")
    with pytest.raises(ValidationError, match="access_token_ttl"):
        BaseServiceSettings()


def test_unknown_env_mode_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKDROP_ENV", "staging")
    with pytest.raises(ValidationError, match="env"):
        BaseServiceSettings()
