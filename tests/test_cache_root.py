"""One cache root (DEEPHASH_CACHE_DIR, else XDG_CACHE_HOME/deephash, else ~/.cache/deephash)."""

from __future__ import annotations

from pathlib import Path

from deephash._cache import cache_root, cache_subdir
from deephash.data._paths import cache_dir


def test_env_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPHASH_CACHE_DIR", str(tmp_path / "root"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "root"
    assert cache_dir() == tmp_path / "root" / "data" and (tmp_path / "root" / "data").is_dir()


def test_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPHASH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_subdir("features") == tmp_path / "xdg" / "deephash" / "features"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == Path(tmp_path / "home" / ".cache" / "deephash")


def test_feature_cache_uses_the_root(tmp_path, monkeypatch):
    from deephash.models import default_cache_dir

    monkeypatch.setenv("DEEPHASH_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "features"
