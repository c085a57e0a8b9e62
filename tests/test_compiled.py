"""rnnlab.compiled: a changed C++ header rebuilds the modules that include it (torch's cache
notices changed sources and flags, not headers); the vectorised build is tried first and a
failed build falls back to the plain one, or to None with the reason."""

from __future__ import annotations

from unittest import mock

import pytest

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


def test_only_known_sources_are_built():
    with pytest.raises(ValueError, match="name must be one of"):
        compiled.load("nope")


def test_the_vectorised_build_comes_first_and_the_plain_one_is_the_fallback(monkeypatch):
    monkeypatch.setattr(compiled, "_vector_isa", lambda: "avx2")
    builds = compiled.builds_of("lstm_steps")
    assert builds == [
        ("rnnlab_lstm_steps_avx2", [*compiled.PLAIN_FLAGS, "-mavx2", "-mfma"]),
        ("rnnlab_lstm_steps", list(compiled.PLAIN_FLAGS)),
    ]
    monkeypatch.setattr(compiled, "_vector_isa", lambda: "")
    assert compiled.builds_of("lstm_steps") == [builds[1]]


def test_a_failed_build_falls_back_to_the_next_and_says_why(monkeypatch):
    monkeypatch.setattr(compiled, "_vector_isa", lambda: "avx2")
    tried = []

    def build(name, build, flags):
        tried.append(build)
        if build.endswith("avx2"):
            raise RuntimeError("the compiler refused -mavx2")
        return "the plain module"

    monkeypatch.setattr(compiled, "build_module", build)
    compiled.load.cache_clear()
    try:
        assert compiled.load("lstm_steps") == "the plain module"
        assert tried == ["rnnlab_lstm_steps_avx2", "rnnlab_lstm_steps"]
        assert compiled.failure("lstm_steps") == ""
        compiled.load.cache_clear()

        def no_compiler(*args):
            raise OSError("no g++")

        monkeypatch.setattr(compiled, "build_module", no_compiler)
        assert compiled.load("lstm_steps") is None
        assert "no g++" in compiled.failure("lstm_steps")
        assert "rnnlab_lstm_steps_avx2" in compiled.failure("lstm_steps")
    finally:
        compiled.load.cache_clear()
