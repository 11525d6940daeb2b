"""Object keys come from untrusted filenames: the sanitiser keeps them inert."""

from __future__ import annotations

import uuid

import pytest
from backdrop_common.storage import (
    MAX_FILENAME_BYTES,
    MiB,
    input_key,
    multipart_part_size,
    sanitize_filename,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.csv", "report.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/abs/path/x.txt", "x.txt"),
        ("a\x00b.txt", "ab.txt"),
        ("line\nbreak\r.txt", "line break .txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),  # RTL override dropped
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("   ", "file"),
        ("...hidden", "hidden"),
        ("a..b", "a.b"),
        ("fullwidth\uff0f\uff0e\uff0eslash", "slash"),  # NFKC turns them into / and ..
        ("Cafe\u0301.txt", "Café.txt"),  # combining accent composed
        ("résumé ñ 日本語.pdf", "résumé ñ 日本語.pdf"),
        ("we$ird{name}#?.txt", "we_ird_name___.txt"),
        ("${filename}", "__filename_"),
        ("tab\tand  spaces .txt", "tab and spaces .txt"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_names_are_capped_keeping_the_extension() -> None:
    name = sanitize_filename("a" * 10_000 + ".tar.gz")
    assert len(name.encode()) <= MAX_FILENAME_BYTES and name.endswith(".gz")
    multibyte = sanitize_filename("日" * 5_000 + ".txt")
    assert len(multibyte.encode()) <= MAX_FILENAME_BYTES and multibyte.endswith("日.txt")
    multibyte.encode().decode()  # no split character
    no_ext = sanitize_filename("b" * 10_000)
    assert no_ext == "b" * MAX_FILENAME_BYTES


def test_input_key_shape() -> None:
    owner, task = uuid.uuid4(), uuid.uuid4()
    key = input_key(owner, task, "../x/../../y.bin")
    assert key == f"users/{owner}/tasks/{task}/input/y.bin"
    assert len(input_key(owner, task, "z" * 10_000)) < 1024


def test_part_size() -> None:
    assert multipart_part_size(100 * MiB) == 8 * MiB
    assert multipart_part_size(0) == 8 * MiB
    big = 1024 * 1024 * MiB  # 1 TiB
    assert multipart_part_size(big) * 10_000 >= big
    with pytest.raises(ValueError):
        multipart_part_size(6 * 1024 * 1024 * MiB)
