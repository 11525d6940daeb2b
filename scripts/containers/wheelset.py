"""Helpers for scripts/containers/wheels.sh (standard library + packaging only).

wheelset.py target PYV ARCH REQS...         print the pinned requirements that apply to
                                             the TARGET interpreter (markers evaluated for
                                             any PYV.z on linux/ARCH), without markers
wheelset.py subtract REQS BASE              print the lines of REQS (markers kept) whose
                                             project is not in BASE (already installed)
wheelset.py link POOL DEST PYV ARCH REQS    hard-link the pool's file for each target
                                             requirement of REQS into DEST; fail if missing
wheelset.py missing POOL PYV ARCH REQS...   print the target requirements not in the pool
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

try:
    from packaging.markers import Marker
    from packaging.utils import canonicalize_name, parse_wheel_filename
    from packaging.version import Version
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import (  # type: ignore[no-redef]
        canonicalize_name,
        parse_wheel_filename,
    )
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]


def _lines(path: str) -> list[str]:
    out = []
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "-")):
            out.append(line)
    return out


def _split(line: str) -> tuple[str, str, str]:
    """'name[extra]==1.0 ; marker' -> (canonical name, version, marker)."""
    req, _, marker = line.partition(";")
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;]+)", req)
    if not m:
        raise SystemExit(f"wheelset: not a pinned requirement: {line!r}")
    return canonicalize_name(m.group(1)), m.group(3), marker.strip()


def _applies(marker: str, pyv: str, arch: str) -> bool:
    if not marker:
        return True
    envs = [
        {
            "python_version": pyv,
            "python_full_version": f"{pyv}.{z}",
            "implementation_version": f"{pyv}.{z}",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": arch,
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "extra": "",
        }
        # Debian bookworm has 3.11.2; python:3.11-slim the latest 3.11.z: cover both ends.
        for z in (0, 2, 99)
    ]
    return any(Marker(marker).evaluate(e) for e in envs)


def target(pyv: str, arch: str, paths: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for path in paths:
        for line in _lines(path):
            name, version, marker = _split(line)
            if _applies(marker, pyv, arch):
                seen.setdefault(f"{name}=={version}", line)
    return sorted(seen)


def subtract(reqs: str, base: str) -> list[str]:
    have = {_split(line)[0] for line in _lines(base)}
    return [line for line in _lines(reqs) if _split(line)[0] not in have]


def _index(pool: str) -> dict[tuple[str, Version], Path]:
    index: dict[tuple[str, Version], Path] = {}
    for f in Path(pool).glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(f.name)
        index[(canonicalize_name(name), version)] = f
    return index


def missing(pool: str, pyv: str, arch: str, paths: list[str]) -> list[str]:
    index = _index(pool)
    out = []
    for pin in target(pyv, arch, paths):
        name, version, _ = _split(pin)
        if (name, Version(version)) not in index:
            out.append(pin)
    return out


def link(pool: str, dest: str, pyv: str, arch: str, reqs: str) -> None:
    index = _index(pool)
    missing = []
    os.makedirs(dest, exist_ok=True)
    for pin in target(pyv, arch, [reqs]):
        name, version, _ = _split(pin)
        src = index.get((name, Version(version)))
        if src is None:
            missing.append(pin)
            continue
        dst = Path(dest) / src.name
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                dst.write_bytes(src.read_bytes())
    if missing:
        raise SystemExit("wheelset: not in the pool: " + ", ".join(missing))


def _print_lines(lines: list[str]) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def main(argv: list[str]) -> None:
    cmd, *args = argv
    if cmd == "target":
        _print_lines(target(args[0], args[1], args[2:]))
    elif cmd == "subtract":
        _print_lines(subtract(args[0], args[1]))
    elif cmd == "link":
        link(*args)
    elif cmd == "missing":
        _print_lines(missing(args[0], args[1], args[2], args[3:]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
