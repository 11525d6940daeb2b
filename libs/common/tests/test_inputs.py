"""The one text-safety check: what names, passwords and JSON params may contain."""

from __future__ import annotations

import pytest
from backdrop_common.errors import ValidationFailed
from backdrop_common.inputs import SafeString, StrictSchema, check_storable
from marshmallow import ValidationError


class Names(StrictSchema):
    name = SafeString()
    secret = SafeString(allow_control=True)


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "tab\there", "c1\x85", "del\x7f"])
def test_names_refuse_nul_surrogates_and_control_characters(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Names().load({"name": bad})
    assert list(caught.value.messages) == ["name"]


def test_passwords_allow_control_characters_but_not_nul() -> None:
    assert Names().load({"secret": "tab\there"}) == {"secret": "tab\there"}
    with pytest.raises(ValidationError):
        Names().load({"secret": "a\x00b"})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Unknown field"):
        Names().load({"nmae": "typo"})


def test_storable_json_names_the_offending_path() -> None:
    check_storable({"terminator": "\n", "list": ["\t"]}, "params")
    with pytest.raises(ValidationFailed) as caught:
        check_storable({"outer": {"inner": "x\x00"}}, "params")
    assert caught.value.extra["errors"] == {
        "params": {"outer.inner": ["NUL and invalid Unicode are not allowed."]}
    }
    with pytest.raises(ValidationFailed):
        check_storable({"\ud800": 1}, "params")
