"""Tests for processor discovery through entry points, including a third-party plugin."""

from __future__ import annotations

import io
import shutil
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backdrop_common.catalogue import describe
from worker.processors import (
    DuplicateProcessorError,
    Processor,
    RegistryError,
    UnknownProcessorError,
    load_processors,
)
from worker.processors.local import LocalContext

BUILTINS = {"checksum", "text-stats", "csv-profile", "image-thumbnail", "gzip"}
PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugin_pkg"
PLUGIN_MODULE = "backdrop_line_count"

InstallDist = Callable[..., Path]


@pytest.fixture
def install_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallDist]:
    """``install_dist(name, {ep_name: "module:attr"})``: an installed distribution on sys.path.

    Writes ``<name>.dist-info`` (METADATA, entry_points.txt) into a fresh site directory,
    which is what pip leaves behind and all that ``importlib.metadata`` reads.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(name: str, entry_points: dict[str, str], version: str = "0.1.0") -> Path:
        dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = [f"{ep} = {target}" for ep, target in entry_points.items()]
        (dist_info / "entry_points.txt").write_text(
            "[backdrop.processors]\n" + "\n".join(lines) + "\n"
        )
        return site

    yield install
    sys.modules.pop(PLUGIN_MODULE, None)


@pytest.fixture
def plugin(install_dist: InstallDist) -> None:
    """Install tests/plugin_pkg as pip would: its package and its declared entry points."""
    project = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text())["project"]
    site = install_dist(project["name"], project["entry-points"]["backdrop.processors"])
    shutil.copytree(PLUGIN_DIR / "src" / PLUGIN_MODULE, site / PLUGIN_MODULE)


def test_builtins_are_found_through_entry_points() -> None:
    processors = load_processors()
    assert set(processors) >= BUILTINS
    for name, processor in processors.items():
        assert isinstance(processor, Processor)
        assert processor.name == name


def test_subset() -> None:
    assert list(load_processors(["gzip", "checksum", "gzip"])) == ["gzip", "checksum"]


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownProcessorError, match="unknown processor\\(s\\): nope") as caught:
        load_processors(["checksum", "nope"])
    assert "available: checksum, csv-profile, gzip" in str(caught.value)


@pytest.mark.usefixtures("plugin")
def test_third_party_plugin_is_discovered_and_runs(tmp_path: Path) -> None:
    processors = load_processors()
    assert set(processors) >= BUILTINS | {"line-count"}
    line_count = processors["line-count"]
    data = b"one\ntwo\nthree\n"
    ctx = LocalContext.for_processor(line_count, io.BytesIO(data), len(data), tmp_path)
    assert line_count.run(ctx) == {"lines": 3}
    assert describe(line_count)["params_schema"]["properties"]["terminator"]["default"] == "\n"


@pytest.mark.usefixtures("plugin")
def test_a_worker_can_serve_only_the_plugin() -> None:
    assert list(load_processors(["line-count"])) == ["line-count"]


def test_duplicate_name_is_an_error_naming_both(install_dist: InstallDist) -> None:
    install_dist("evil-checksum", {"checksum": "evil_checksum:processor"})
    with pytest.raises(DuplicateProcessorError) as caught:
        load_processors()
    message = str(caught.value)
    assert "'checksum'" in message
    assert "worker.processors.checksum:processor (backdrop-worker 0.1.0)" in message
    assert "evil_checksum:processor (evil-checksum 0.1.0)" in message
    with pytest.raises(DuplicateProcessorError):
        load_processors(["checksum"])
    assert list(load_processors(["gzip"])) == ["gzip"]


@pytest.mark.parametrize(
    ("entry_points", "match"),
    [
        ({"broken": "no_such_module_xyz:processor"}, "'broken' from .* failed to load"),
        ({"not-a-processor": "os.path:join"}, "is a function, not a worker.processors.Processor"),
        ({"count-lines": f"{PLUGIN_MODULE}:processor"}, "named 'line-count'; the two names"),
    ],
)
@pytest.mark.usefixtures("plugin")
def test_bad_entry_points_fail_loudly(
    install_dist: InstallDist, entry_points: dict[str, str], match: str
) -> None:
    install_dist("bad-plugin", entry_points)
    with pytest.raises(RegistryError, match=match):
        load_processors()
    assert set(load_processors(["checksum", "line-count"])) == {"checksum", "line-count"}


def test_describe_gives_json_schema_with_defaults() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for processor in load_processors(sorted(BUILTINS)).values():
        described = describe(processor)
        assert set(described) == {"name", "description", "params_schema"}
        assert described["name"] == processor.name
        assert described["description"]
        schema = described["params_schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        defaults = {key: prop["default"] for key, prop in schema["properties"].items()}
        assert defaults == processor.load_params({})
        jsonschema.validate(defaults, schema)


def test_describe_checksum_schema() -> None:
    schema = describe(load_processors(["checksum"])["checksum"])["params_schema"]
    algorithms = schema["properties"]["algorithms"]
    assert algorithms["type"] == "array"
    assert algorithms["default"] == ["sha256"]
    assert algorithms["items"]["enum"] == ["sha256", "sha1", "md5", "blake2b"]
