"""Column type inference for ``csv-profile``: one pass, constant memory per column."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BOOLEANS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
}

TYPES = ("integer", "float", "boolean", "date", "string")
"""Column types, most specific first; a column gets the first one all its values fit."""


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


class ColumnProfile:
    """Type, null count and min/max of one column, updated cell by cell."""

    __slots__ = (
        "_candidates",
        "_flag_max",
        "_flag_min",
        "_num_max",
        "_num_min",
        "_str_max",
        "_str_min",
        "name",
        "nulls",
        "values",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.nulls = 0
        self.values = 0
        self._candidates = {"integer", "float", "boolean", "date"}
        self._num_min: float | None = None
        self._num_max: float | None = None
        self._flag_min: bool | None = None
        self._flag_max: bool | None = None
        self._str_min: str | None = None
        self._str_max: str | None = None

    def add(self, cell: str) -> None:
        """Account for one cell; empty (or blank) cells are nulls."""
        value = cell.strip()
        if not value:
            self.nulls += 1
            return
        self.values += 1
        if self._str_min is None or value < self._str_min:
            self._str_min = value
        if self._str_max is None or value > self._str_max:
            self._str_max = value
        candidates = self._candidates
        if not candidates:
            return
        if "float" in candidates:
            self._add_number(value)
        if "boolean" in candidates:
            self._add_flag(value)
        if "date" in candidates and not _is_date(value):
            candidates.discard("date")

    def _add_number(self, value: str) -> None:
        candidates = self._candidates
        if not _FLOAT.fullmatch(value):
            candidates.difference_update(("integer", "float"))
            return
        if "integer" in candidates and not _INTEGER.fullmatch(value):
            candidates.discard("integer")
        number: float = int(value) if "integer" in candidates else float(value)
        if not math.isfinite(number):
            candidates.difference_update(("integer", "float"))
            return
        if self._num_min is None or number < self._num_min:
            self._num_min = number
        if self._num_max is None or number > self._num_max:
            self._num_max = number

    def _add_flag(self, value: str) -> None:
        flag = _BOOLEANS.get(value.lower())
        if flag is None:
            self._candidates.discard("boolean")
            return
        if self._flag_min is None or flag < self._flag_min:
            self._flag_min = flag
        if self._flag_max is None or flag > self._flag_max:
            self._flag_max = flag

    @property
    def type(self) -> str:
        """The inferred type; a column with no values at all is a ``string`` column."""
        if not self.values:
            return "string"
        return next(kind for kind in TYPES if kind in self._candidates or kind == "string")

    def to_dict(self) -> dict[str, Any]:
        """``{name, type, nulls, min, max}``; min/max are numbers for numeric columns."""
        kind = self.type
        low: Any = self._str_min
        high: Any = self._str_max
        if kind == "integer":
            low, high = self._num_min, self._num_max
        elif kind == "float":
            low, high = _as_float(self._num_min), _as_float(self._num_max)
        elif kind == "boolean":
            low, high = self._flag_min, self._flag_max
        return {"name": self.name, "type": kind, "nulls": self.nulls, "min": low, "max": high}


def _as_float(number: float | None) -> float | None:
    return None if number is None else float(number)
