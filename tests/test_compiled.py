"""rnnlab.compiled: a changed C++ header rebuilds the modules that include it (torch's cache
notices changed sources and flags, not headers)."""

from __future__ import annotations

from unittest import mock

from rnnlab import compiled


def test_the_headers_digest_follows_their_content(tmp_path, monkeypatch):
    header = tmp_path / "small_products.h"
    header.write_text("// one\n")
    monkeypatch.setattr(compiled, "_PACKAGE", tmp_path)
    compiled.headers_digest.cache_clear()
    try:
        first = compiled.headers_digest()
        compiled.headers_digest.cache_clear()
        assert compiled.headers_digest() == first  # the same content, the same digest
        header.write_text("// two\n")
        compiled.headers_digest.cache_clear()
        assert compiled.headers_digest() != first
    finally:
        compiled.headers_digest.cache_clear()


def test_the_build_flags_carry_the_headers_digest():
    with mock.patch("torch.utils.cpp_extension.load") as load:
        compiled.build_module("ensemble_tiled_scans", "a_build", ["-O3"])
    flags = load.call_args.kwargs["extra_cflags"]
    assert flags == ["-O3", f"-DRNNLAB_HEADERS={compiled.headers_digest()}"]
    assert len(compiled.headers_digest()) == 16
