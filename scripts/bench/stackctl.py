"""The bench's own e2e stack (through ``scripts/stack.py``), its processes, RSS and metrics."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
SUPERVISORCTL = ROOT / ".venv" / "bin" / "supervisorctl"
RUN_DIR = ROOT / ".run" / "e2e"
CONF = RUN_DIR / "supervisord.conf"
PIDFILE = RUN_DIR / "supervisord.pid"
BENCH_PIDFILE = RUN_DIR / "bench.pid"  # the bench run using the stack, while it does
LOGS = RUN_DIR / "logs"
MOTO_PIDFILE = ROOT / ".run" / "infra" / "moto-19000.pid"

GATEWAY = "http://127.0.0.1:18080"
UPLOAD = "http://127.0.0.1:18082"
AUTH = "http://127.0.0.1:18081"
S3 = "http://127.0.0.1:19000"
REDIS_URL = "redis://127.0.0.1:6379/6"
DATABASE_URL = "postgresql://127.0.0.1:5432/backdrop_e2e"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _pid_in(pidfile: Path) -> int | None:
    """The PID written in ``pidfile``, or None when it is missing or not a number."""
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _live_pid_in(pidfile: Path) -> int | None:
    """The PID written in ``pidfile`` while that process runs, else None."""
    pid = _pid_in(pidfile)
    return pid if pid is not None and _alive(pid) else None


def supervisord_pid() -> int | None:
    """PID of the e2e profile's supervisord when it runs, else None."""
    return _live_pid_in(PIDFILE)


def bench_pid() -> int | None:
    """PID of the bench run that holds the e2e stack, while it runs, else None."""
    return _live_pid_in(BENCH_PIDFILE)


def hold_stack() -> None:
    """Mark the e2e stack as this bench run's: another run waits for it however quiet it
    is (the queue phase leaves it idle for minutes)."""
    BENCH_PIDFILE.write_text(str(os.getpid()))


def release_stack() -> None:
    """Remove this run's mark (another run's is left alone)."""
    if _pid_in(BENCH_PIDFILE) == os.getpid():
        BENCH_PIDFILE.unlink(missing_ok=True)


def s3_answers() -> bool:
    """Whether something answers on the e2e S3 port."""
    try:
        with urllib.request.urlopen(S3 + "/", timeout=2):  # noqa: S310 - fixed loopback URL
            return True
    except OSError:
        return False
    except Exception:
        return True  # an HTTP error still means a server is there


def command_line(pid: int | str) -> str | None:
    """The command line of process ``pid``, its arguments joined by spaces; None if gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def _moto_pid() -> int | None:
    """The PID ``infra.sh`` wrote for the e2e S3 stand-in, if that process still runs it."""
    pid = _pid_in(MOTO_PIDFILE)
    return pid if pid is not None and "moto_server" in (command_line(pid) or "") else None


class StandIn:
    """The e2e S3 stand-in as a bench run found it, so that the run stops only one it started.

    Created before any phase (the queue phase starts the stand-in too). A stand-in counts as
    the run's own when nothing answered then and ``infra.sh`` has since written a new PID of a
    running ``moto_server``; one somebody else started, before or during the run, is left.
    """

    def __init__(self) -> None:
        self.was_up = s3_answers()
        self.pid_before = _moto_pid()
        self.done = False

    def grown_mib(self, limit_mib: int = 500) -> int | None:
        """The RSS of a stand-in this run found running, in MiB, when above ``limit_mib``:
        ``moto_server`` does not give memory back, and one that had grown to 1 GB over a
        day's runs slowed the whole machine (docs/PERFORMANCE.md)."""
        pid = _moto_pid() if self.was_up else None
        rss = rss_kib(pid) if pid is not None else None
        return rss // 1024 if rss is not None and rss // 1024 > limit_mib else None

    def keep(self) -> None:
        """Leave the stand-in running whatever happens (another stack may be using it)."""
        self.done = True

    def stop_if_own(self) -> str:
        """Stop the stand-in if it is this run's own (once); what the teardown line says."""
        if self.done or self.was_up:
            return ""
        self.done = True
        pid = _moto_pid()
        if pid is None or pid == self.pid_before:
            return ""
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
            MOTO_PIDFILE.unlink(missing_ok=True)
            return "; stopped the S3 stand-in it had started"
        return ""


def _served() -> int:
    """Requests the running e2e gateway and upload have served, scrapes of /metrics aside."""
    return sum(n for key, n in request_counts().items() if key[2] != "/metrics")


def wait_until_free(timeout_s: float, idle_s: float = 30.0) -> bool:
    """Wait for an e2e stack someone else runs; True when it stopped or looks abandoned.

    A stack whose gateway and upload serve no request for ``idle_s`` is taken for a leftover
    (``stack.py up --fresh`` replaces it), unless a running bench holds it; one in use is
    waited for, up to ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    print(
        f"bench: an e2e stack is already running (supervisord pid {supervisord_pid()}); "
        f"waiting up to {timeout_s:.0f}s for it to stop or stay idle for {idle_s:.0f}s",
        flush=True,
    )
    last, quiet_since = _served(), time.monotonic()
    while supervisord_pid() is not None:
        now = time.monotonic()
        served = _served()
        if served != last or bench_pid() is not None:
            last, quiet_since = served, now
        elif now - quiet_since >= idle_s:
            print(f"bench: it served nothing for {idle_s:.0f}s: taking it over", flush=True)
            return True
        if now >= deadline:
            return False
        time.sleep(2)
    return True


def up() -> int:
    """``stack.py up --profile e2e --fresh``; returns our supervisord's PID."""
    subprocess.run(
        [str(PYTHON), str(ROOT / "scripts" / "stack.py"), "up", "--profile", "e2e", "--fresh"],
        check=True,
        cwd=ROOT,
    )
    pid = supervisord_pid()
    if pid is None:
        raise RuntimeError("stack.py up returned but no e2e supervisord runs")
    return pid


def down(own_pid: int | None) -> str:
    """Stop the e2e stack if it is still ours (``own_pid``); returns what happened."""
    current = supervisord_pid()
    if current is None:
        return "not running"
    if own_pid is not None and current != own_pid:
        return f"left alone: supervisord {current} is not ours ({own_pid}); someone replaced it"
    subprocess.run(
        [str(PYTHON), str(ROOT / "scripts" / "stack.py"), "down", "--profile", "e2e"],
        check=False,
        cwd=ROOT,
    )
    return "stopped"


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: the fields follow the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    kids = _children()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(kids.get(current, []))
    return out


def established_per_process(pids: list[int], port: int) -> dict[int, int]:
    """Established TCP connections on local ``port`` held by each of ``pids`` (IPv4).

    Shows how a gunicorn master's workers share the accepted connections.
    """
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return counts
    for row in table:
        cols = row.split()
        local, state, inode = cols[1], cols[3], cols[9]
        if state == "01" and int(local.split(":")[1], 16) == port and inode in inodes:
            counts[inodes[inode]] += 1
    return counts


def program_pid(name: str) -> int:
    """The main PID supervisord reports for program ``name`` (``supervisorctl pid NAME``)."""
    done = subprocess.run(
        [str(SUPERVISORCTL), "-c", str(CONF), "pid", name],
        check=True,
        capture_output=True,
        text=True,
    )
    text = done.stdout.strip()
    if not text.isdigit() or int(text) == 0:
        raise RuntimeError(f"supervisorctl pid {name}: {text!r}")
    return int(text)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time in ticks): tells a process from a later one given the same pid."""
    fields = _stat_fields(pid)
    return None if fields is None else (pid, fields[19])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time ``pid`` has used so far."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of ``pid`` itself plus that of its children it has already reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of every process below ``pids`` (each counted once, reaped ones too)."""
    seen = {p for pid in pids for p in descendants(pid)}
    return sum(tree_cpu_seconds(p) or 0.0 for p in seen)


def stack_processes() -> list[tuple[int, str]]:
    """Every process under our supervisord, by identity (to check teardown)."""
    pid = supervisord_pid()
    found = [identity(p) for p in descendants(pid)] if pid is not None else []
    return [i for i in found if i is not None]


def still_alive(processes: list[tuple[int, str]], wait_s: float = 10.0) -> list[str]:
    """Those of ``processes`` still running after up to ``wait_s``, with their command lines."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = [(pid, start) for pid, start in processes if identity(pid) == (pid, start)]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    out = []
    for pid, _ in alive:
        cmd = command_line(pid) or "?"
        out.append(f"{pid} {cmd.strip()[:120]}")
    return out


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status); None if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return 0


@dataclass
class RssSeries:
    """RSS samples of one group of processes (a gunicorn master and its workers)."""

    pids: list[int]
    cpu_first: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)
    first: dict[int, int] = field(default_factory=dict)
    peak: dict[int, int] = field(default_factory=dict)
    first_total: int = 0
    peak_total: int = 0
    samples: int = 0

    def sample(self) -> None:
        """Take one sample of every process of the group."""
        total = 0
        for pid in self.pids:
            rss = rss_kib(pid)
            if rss is None:
                continue
            total += rss
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self.cpu_first.setdefault(pid, cpu)
                self.cpu_last[pid] = cpu
            self.first.setdefault(pid, rss)
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
        if self.samples == 0:
            self.first_total = total
        self.peak_total = max(self.peak_total, total)
        self.samples += 1

    def growth_mb(self) -> float:
        """Peak of the group's summed RSS minus its first sample, in MB (10^6 bytes)."""
        return (self.peak_total - self.first_total) * 1024 / 1e6

    def cpu_used(self) -> dict[int, float]:
        """CPU seconds each process used while sampled (shows which worker did the work)."""
        return {p: round(self.cpu_last[p] - self.cpu_first[p], 2) for p in self.cpu_first}

    def max_process_growth_mb(self) -> float:
        """The largest growth of any one process of the group, in MB."""
        return max(((self.peak[p] - self.first[p]) * 1024 / 1e6 for p in self.first), default=0.0)


class RssSampler:
    """Samples groups of processes every ``interval_s`` in a background thread."""

    def __init__(self, groups: dict[str, list[int]], interval_s: float = 0.1) -> None:
        self.series = {name: RssSeries(pids) for name, pids in groups.items()}
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for series in self.series.values():
                series.sample()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        """Take the first sample now, then keep sampling."""
        for series in self.series.values():
            series.sample()
        self._thread.start()

    def stop(self) -> None:
        """Stop and take a last sample."""
        self._stop.set()
        self._thread.join()
        for series in self.series.values():
            series.sample()


_METRIC = re.compile(
    r'^backdrop_http_requests_total\{endpoint="(?P<endpoint>[^"]*)",method="(?P<method>[^"]*)",'
    r'service="(?P<service>[^"]*)",status="(?P<status>\d+)"\}\s+(?P<value>[0-9.e+]+)$'
)


def request_counts() -> Counter[tuple[str, str, str, str]]:
    """``backdrop_http_requests_total`` of gateway, upload and auth, keyed by
    (service, method, route, status)."""
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for base in (GATEWAY, UPLOAD, AUTH):
        try:
            scrape = urllib.request.Request(  # noqa: S310 - our own local stack
                base + "/metrics", headers={"Authorization": "Bearer e2e-metrics-token"}
            )
            with urllib.request.urlopen(scrape, timeout=10) as resp:  # noqa: S310
                text = resp.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            match = _METRIC.match(line)
            if match:
                key = (match["service"], match["method"], match["endpoint"], match["status"])
                counts[key] += int(float(match["value"]))
    return counts


def served_between(
    before: Counter[tuple[str, str, str, str]], after: Counter[tuple[str, str, str, str]]
) -> dict[str, int]:
    """Every response counted between two scrapes, by service, route and status."""
    out: dict[str, int] = {}
    for key, value in sorted(after.items()):
        delta = value - before.get(key, 0)
        if delta > 0 and key[2] != "/metrics":
            out[" ".join(key[:3]) + f" -> {key[3]}"] = delta
    return out


def bad_requests(
    before: Counter[tuple[str, str, str, str]], after: Counter[tuple[str, str, str, str]]
) -> dict[str, int]:
    """Responses with status 429 or >= 500 counted between two scrapes, by route."""
    out: dict[str, int] = {}
    for key, value in after.items():
        service, method, endpoint, status = key
        delta = value - before.get(key, 0)
        if delta > 0 and (status == "429" or status.startswith("5")):
            out[f"{service} {method} {endpoint} -> {status}"] = delta
    return out


def log_sizes() -> dict[str, int]:
    """Current size of every log of the stack (to read only what a phase appends)."""
    sizes = {}
    for path in LOGS.glob("*.log"):
        with contextlib.suppress(OSError):
            sizes[path.name] = path.stat().st_size
    return sizes


_BAD_LOG = re.compile(
    r'"level": "(ERROR|CRITICAL)"|Traceback|\[ERROR\]|\[CRITICAL\]|WORKER TIMEOUT'
    r"|Worker .* was sent|exited: |Booting worker"
)
# Warnings count as trouble only when they say so (other engineers log debug output at
# WARNING while they work; those lines are kept in the details, not reported as problems).
_BAD_WARNING = re.compile(
    r'"level": "WARNING".*"message": "[^"]*'
    r"(error|Error|interrupted|fail|lost|timed out|timeout|refused|unavailable|retry)"
)
_TIME = re.compile(r'"time": "[^"]*", |^(?!\{)\S+ \S+ ')
_NUMBERS = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+(\.\d+)?")


def new_log_lines(since: dict[str, int], limit: int = 8) -> list[str]:
    """Warning/error lines the stack logged after ``since`` (see :func:`log_sizes`); repeats
    of one message are folded into its first occurrence with a count."""
    first: dict[tuple[str, str], str] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for path in sorted(LOGS.glob("*.log")):
        start = since.get(path.name, 0)
        try:
            with path.open("rb") as fh:
                fh.seek(start)
                text = fh.read().decode(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if _BAD_LOG.search(line) or _BAD_WARNING.search(line):
                key = (path.name, _NUMBERS.sub("#", _TIME.sub("", line.strip()))[:300])
                first.setdefault(key, line.strip()[:400])
                counts[key] += 1
    out = [f"{key[0]} (x{counts[key]}): {first[key]}" for key in first]
    if len(out) > limit:
        out = [*out[:limit], f"... {len(out) - limit} other messages"]
    return out
