"""analysis/textfile.py: the one rule for reading a workspace file as text."""

from __future__ import annotations

import pytest

from refute.analysis.textfile import NotText, read_text


@pytest.mark.parametrize("name, content, reason", [
    ("missing.py", None, "no such file"),
    ("folder", "DIR", "not a regular file"),
    ("big.py", "x" * 101, "101 bytes is larger than the 100-byte limit for tools"),
    ("blob.py", b"ab\x00cd", "binary file"),
    ("latin1.py", "caf\xe9 = 1\n".encode("latin-1"), "not UTF-8 text"),
])
def test_what_is_not_text_is_refused_naming_the_file_and_why(tmp_path, name, content, reason):
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(NotText, match=reason) as info:
        read_text(path, name, max_bytes=100, purpose="for tools")
    assert str(info.value).startswith(f"{name}: ")


def test_text_is_returned_and_the_bytes_read_are_seen_even_when_refused(tmp_path):
    seen: list[bytes] = []
    (tmp_path / "ok.py").write_text("naïve = 1\n")
    assert read_text(tmp_path / "ok.py", "ok.py", max_bytes=100, on_bytes=seen.append) == "naïve = 1\n"
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01")
    with pytest.raises(NotText):
        read_text(tmp_path / "blob.bin", "blob.bin", max_bytes=100, on_bytes=seen.append)
    assert seen == ["naïve = 1\n".encode(), b"\x00\x01"]  # a tool's answer depended on both
