"""Result rows, targets and verdicts, percentiles, the printed table and the JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["value_max", "value_min", "ratio_min", "ratio_max"]


def percentile(values: list[float], pct: float) -> float | None:
    """The ``pct`` percentile (0-100) of ``values`` with linear interpolation; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Goal:
    """A target of issue 9: a bound on the figure itself or on its ratio to the baseline."""

    kind: Kind
    bound: float
    strict: bool = False  # "<" instead of "<="

    @property
    def text(self) -> str:
        """The target as printed, e.g. ``<= 25``, ``>= 2x``."""
        if self.kind.startswith("ratio"):
            op = ">=" if self.kind == "ratio_min" else "<="
            return f"{op} {self.bound:g}x"
        op = ">=" if self.kind == "value_min" else ("<" if self.strict else "<=")
        return f"{op} {self.bound:g}"

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        """Whether the figure meets the target; None when it could not be measured."""
        x = ratio if self.kind.startswith("ratio") else value
        if x is None:
            return None
        if self.kind.endswith("min"):
            return x >= self.bound
        return x < self.bound if self.strict else x <= self.bound


def at_most(bound: float, strict: bool = False) -> Goal:
    """The figure must stay at or below ``bound`` (below, when ``strict``)."""
    return Goal("value_max", bound, strict)


def at_least(bound: float) -> Goal:
    """The figure must reach ``bound``."""
    return Goal("value_min", bound)


def ratio_at_least(bound: float) -> Goal:
    """figure / baseline must reach ``bound``."""
    return Goal("ratio_min", bound)


def ratio_at_most(bound: float) -> Goal:
    """figure / baseline must stay at or below ``bound``."""
    return Goal("ratio_max", bound)


@dataclass
class Row:
    """One figure of the run, the same-run baseline it is compared with, and its target.

    ``target`` names the target of issue 9 the row belongs to (``"1 queue"``); ``ratio`` is
    ``value / baseline`` (> 1 means more than the baseline: slower for a latency, faster for
    a throughput).
    """

    target: str
    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""
    goal: Goal | None = None

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` when both exist and the baseline is not zero."""
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        """``pass``, ``FAIL``, ``n/a`` (not measured) or empty (no target: context)."""
        if self.goal is None:
            return ""
        met = self.goal.met(self.value, self.ratio)
        return "n/a" if met is None else ("pass" if met else "FAIL")

    def as_json(self) -> dict[str, Any]:
        """The row plus its ratio, target text and verdict, for results.json."""
        doc = asdict(self)
        doc["ratio"] = self.ratio
        doc["goal"] = self.goal.text if self.goal else None
        doc["verdict"] = self.verdict or None
        return doc


@dataclass
class Report:
    """Everything a run produced: rows for the table, details and problems for the JSON."""

    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        """Append a row and print it at once (a long run shows its figures as they come)."""
        self.rows.append(row)
        ratio = f" ({_ratio(row.ratio)} of {_fmt(row.baseline)})" if row.ratio else ""
        verdict = f" [{row.goal.text}: {row.verdict}]" if row.goal else ""
        print(
            f"bench: [{row.target}] {row.figure}: {_fmt(row.value)} {row.unit}{ratio}{verdict}",
            flush=True,
        )

    def problem(self, text: str) -> None:
        """Record a misbehaviour of a service (printed after the table, kept in the JSON)."""
        self.problems.append(text)
        print(f"bench: PROBLEM: {text}", flush=True)

    def note(self, text: str) -> None:
        """Record a remark about how something was measured."""
        self.notes.append(text)
        print(f"bench: note: {text}", flush=True)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


HEADER = ("target", "figure", "ours", "baseline", "ratio", "target is", "verdict", "baseline is")


def table_lines(report: Report) -> list[tuple[str, ...]]:
    """The table's cells: one tuple per row, the header first."""
    lines: list[tuple[str, ...]] = [HEADER]
    for row in report.rows:
        label = row.baseline_label
        if row.note:
            label = f"{label}; {row.note}" if label else row.note
        lines.append(
            (
                row.target,
                f"{row.figure} ({row.unit})",
                _fmt(row.value),
                _fmt(row.baseline),
                _ratio(row.ratio),
                row.goal.text if row.goal else "",
                row.verdict,
                label,
            )
        )
    return lines


def render_table(report: Report) -> str:
    """The rows as an aligned text table; the last column (what the baseline is) unpadded."""
    lines = table_lines(report)
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER) - 1)]
    out = []
    for n, line in enumerate(lines):
        cells = [
            cell.rjust(widths[i]) if i in (2, 3, 4) else cell.ljust(widths[i])
            for i, cell in enumerate(line[:-1])
        ]
        out.append("  ".join(cells) + "  " + line[-1])
        if n == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 18)
    return "\n".join(out)


def render_markdown(report: Report) -> str:
    """The same table in Markdown (for the README)."""
    lines = table_lines(report)
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in line) + " |" for line in lines[1:]]
    return "\n".join(out)


def write_json(report: Report, path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta``, the rows (with ratios and verdicts), details, notes and problems."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        **meta,
        "rows": [row.as_json() for row in report.rows],
        "details": report.details,
        "notes": report.notes,
        "problems": report.problems,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
