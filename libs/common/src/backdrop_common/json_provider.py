"""Flask's JSON answers written by orjson: the services' ``app.json``.

Encoding a Task document with the standard library's encoder was about a tenth of a task
read's CPU; orjson does the same in a fraction of that. What orjson would encode differently
from Flask's own provider goes to Flask's: dates and datetimes (Flask writes them as HTTP
dates), dataclasses and anything else through Flask's ``default``, and whatever orjson
refuses (an integer beyond 64 bits, which the standard library keeps exact) or a caller's
own ``json.dumps`` options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from flask.json.provider import DefaultJSONProvider

if TYPE_CHECKING:
    from werkzeug.sansio.response import Response  # what Flask's provider declares

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS
_COMPACT = (",", ":")


class OrjsonProvider(DefaultJSONProvider):
    """``DefaultJSONProvider`` (unsorted keys) with orjson encoding compact output."""

    sort_keys = False

    def _encoded(self, obj: Any, option: int = 0) -> bytes | None:
        """``obj`` as compact JSON bytes by orjson, or None where only the standard library
        can write it (e.g. an integer beyond 64 bits, which it keeps exact)."""
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS | option)
        except orjson.JSONEncodeError:
            return None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``obj`` as JSON text; orjson when only compact separators are asked for (non-ASCII
        text is then written as UTF-8, not as ``\\u`` escapes)."""
        if kwargs.get("separators", _COMPACT) == _COMPACT and kwargs.keys() <= {"separators"}:
            encoded = self._encoded(obj)
            if encoded is not None:
                return encoded.decode()
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """``jsonify``'s answer: what Flask's provider answers, with orjson's bytes given to
        the response as they are instead of decoded to text and encoded back."""
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented: the standard library's
        body = self._encoded(self._prepare_response_obj(args, kwargs), orjson.OPT_APPEND_NEWLINE)
        if body is None:
            return super().response(*args, **kwargs)
        # The app's response_class is flask.Response, whose first argument is the body.
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type]
