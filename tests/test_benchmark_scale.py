"""benchmarks/scale.py made small: two tiny synthetic stores, built through ChromaStore.upsert and
measured in processes of their own, with random vectors (as on a machine with no eval index)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1000, 2000)


@pytest.mark.slow
def test_the_scale_benchmark_builds_measures_and_states_the_growth(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--sizes", ",".join(map(str, SIZES)),
         "--queries", "5", "--workdir", str(tmp_path / "work"), "--vectors-from", str(tmp_path / "no-eval-index"),
         "--articles", str(shared_data / "realtimeqa" / "articles.jsonl"),
         "--questions", str(shared_data / "realtimeqa" / "questions_dev.jsonl"), "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout
    assert "vectors: random unit vectors" in printed  # the fallback, said so
    assert "| chunks | embedded | build min |" in printed
    assert "| 1,000 |" in printed and "| 2,000 |" in printed
    assert "dense p50" in printed and "lexical p50" in printed and "whole p50" in printed
    assert "MiB per 100k chunks" in printed

    figures = json.loads(out.read_text())
    assert figures["queries"] == 5 and figures["vectors"].startswith("random")
    assert [row["chunks"] for row in figures["sizes"]] == list(SIZES)
    for row in figures["sizes"]:
        assert row["dense_chunks"] + row["lexical_chunks"] == row["chunks"]  # exactly the size asked for
        assert 0.2 < row["dense_chunks"] / row["chunks"] < 0.45  # each article's first 4 chunks embedded
        for part in ("dense", "lexical", "whole"):
            assert 0 < row[f"{part}_p50_ms"] <= row[f"{part}_p95_ms"] < 5000
        assert 0 < row["rss_mib"] <= row["peak_rss_mib"]
        assert row["bm25_build_s"] > 0 and row["bm25_load_s"] > 0 and row["bm25_cache_mib"] > 0
        assert row["store_mib"] > 0 and row["build_min"] > 0 and not row["reused"]
        assert not row["legacy_filter"]  # dense queries ran unfiltered, as on a store ingest writes today
    assert set(figures["growth"]) >= {"dense", "lexical", "whole", "rss_mib", "statements"}
