"""The bench's own virtualenv (``.run/bench/venv``): Celery, Dramatiq and py-spy, installed
from ``requirements.txt`` with uv and never part of the project's dependencies."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VENV = ROOT / ".run" / "bench" / "venv"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = HERE / "requirements.txt"
# Bytecode at install time, as ``make install`` does for the project: with
# PYTHONDONTWRITEBYTECODE set, each Celery or Dramatiq start compiled its imports again.
INSTALL = ("pip", "install", "--quiet", "--compile-bytecode")


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).exists():
        raise RuntimeError("uv is needed to build the bench's virtualenv (make install has it)")
    return found


def ensure() -> Path:
    """Create or update the virtualenv when ``requirements.txt`` (or how it is installed)
    changed; its python."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + " ".join(INSTALL).encode()).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return PYTHON
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--allow-existing", str(VENV)], check=True)
    subprocess.run(
        [uv, *INSTALL, "--python", str(PYTHON), "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(digest)
    return PYTHON


def tool(name: str) -> Path:
    """A command installed in the virtualenv (e.g. ``py-spy``)."""
    ensure()
    return VENV / "bin" / name
