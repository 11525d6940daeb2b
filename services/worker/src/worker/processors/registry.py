"""Processor discovery through the ``backdrop.processors`` entry-point group.

Built-ins are registered in services/worker/pyproject.toml exactly as third parties register
theirs, so installing a package that declares::

    [project.entry-points."backdrop.processors"]
    reverse = "my_package.module:processor"

makes ``reverse`` available to workers without any change to Backdrop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from worker.processors.api import Processor

GROUP = "backdrop.processors"
"""The entry-point group processors are published in."""


class RegistryError(Exception):
    """Processors could not be loaded: the worker must not start."""


class UnknownProcessorError(RegistryError):
    """A requested processor name has no entry point."""


class DuplicateProcessorError(RegistryError):
    """Two entry points publish the same processor name."""


def _origin(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"{entry_point.value} ({where})"


def _load(entry_point: EntryPoint) -> Processor:
    try:
        loaded = entry_point.load()
    except Exception as exc:
        raise RegistryError(
            f"processor {entry_point.name!r} from {_origin(entry_point)} failed to load: {exc}"
        ) from exc
    if not isinstance(loaded, Processor):
        raise RegistryError(
            f"processor {entry_point.name!r} from {_origin(entry_point)} is a "
            f"{type(loaded).__name__}, not a worker.processors.Processor"
        )
    if loaded.name != entry_point.name:
        raise RegistryError(
            f"entry point {entry_point.name!r} from {_origin(entry_point)} loads a processor "
            f"named {loaded.name!r}; the two names must match"
        )
    return loaded


def available() -> dict[str, list[EntryPoint]]:
    """Every processor name in the group with the entry points publishing it (not loaded)."""
    found: dict[str, list[EntryPoint]] = defaultdict(list)
    for entry_point in entry_points(group=GROUP):
        found[entry_point.name].append(entry_point)
    return dict(found)


def load_processors(names: Iterable[str] | None = None) -> dict[str, Processor]:
    """Load all processors, or only ``names``; unknown or duplicated names raise.

    Only the requested processors are imported, so a worker serving a subset is unaffected
    by a broken plugin it does not serve.
    """
    found = available()
    wanted = sorted(found) if names is None else list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise UnknownProcessorError(
            f"unknown processor(s): {', '.join(unknown)}; "
            f"available: {', '.join(sorted(found)) or 'none'}"
        )
    processors: dict[str, Processor] = {}
    for name in wanted:
        publishers = found[name]
        if len(publishers) > 1:
            raise DuplicateProcessorError(
                f"processor {name!r} is published by more than one entry point: "
                + " and ".join(_origin(entry_point) for entry_point in publishers)
            )
        processors[name] = _load(publishers[0])
    return processors
