"""One marshmallow schema instance per schema class, shared by every load.

Making an instance deep-copies each of its fields (36 us for the task list's query schema,
per request); loading keeps no state on the instance (marshmallow 4 has no ``context``), so
each class is instantiated once, on first use. Only for schemas made without arguments.
"""

from __future__ import annotations

import functools

from marshmallow import Schema


@functools.cache
def schema_instance(schema_class: type[Schema]) -> Schema:
    """The shared instance of ``schema_class`` (made on first call)."""
    return schema_class()
