"""Optional and dropped dependencies: what runs without them, and what says it needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from dashboards.exports import parquet_bytes
from listening.rate_limit import RedisCounter
from listening.settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]


def test_parquet_exports_need_no_pyarrow(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # any import of it now fails
    frame = pl.DataFrame({"step": ["a", "b"], "gap": [1.5, -2.0]})
    data = parquet_bytes(frame)
    assert data[:4] == b"PAR1"
    assert pl.read_parquet(data).equals(frame)


def test_a_redis_url_without_the_redis_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(SettingsError, match=r"listening-post\[redis\]"):
        RedisCounter("redis://127.0.0.1:6379/0")


SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "harness.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_script_answers_help_without_running(script):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:"), done.stdout[:200]
