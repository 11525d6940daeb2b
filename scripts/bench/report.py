"""Result rows, percentiles, the printed table and the JSON file of a benchmark run."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass
class Row:
    """One figure of the run, the same-run baseline it is compared with, and their ratio.

    ``ratio`` is ``value / baseline`` (so > 1 means "more than the baseline": slower for a
    latency, faster for a throughput); ``note`` says how to read it or states a target.
    """

    section: str
    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` when both exist and the baseline is not zero."""
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        """The row plus its ratio, for results.json."""
        doc = asdict(self)
        doc["ratio"] = self.ratio
        return doc


@dataclass
class Report:
    """Everything a run produced: rows for the table, details and problems for the JSON."""

    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        """Append a row."""
        self.rows.append(row)

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
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


def render_table(report: Report) -> str:
    """The rows as an aligned text table: section, figure, value, baseline, ratio, unit, note."""
    header = ("section", "figure", "value", "baseline", "ratio", "unit", "baseline is / note")
    lines = [header]
    for row in report.rows:
        label = row.baseline_label
        if row.note:
            label = f"{label}; {row.note}" if label else row.note
        lines.append(
            (
                row.section,
                row.figure,
                _fmt(row.value),
                _fmt(row.baseline),
                _ratio(row.ratio),
                row.unit,
                label,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
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


def write_json(report: Report, path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta``, the rows (with ratios), details, notes and problems to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        **meta,
        "rows": [row.as_json() for row in report.rows],
        "details": report.details,
        "notes": report.notes,
        "problems": report.problems,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
