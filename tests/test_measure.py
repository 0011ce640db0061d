from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_ollama_bench.measure import Recorder
from pytest_ollama_bench.stats import percentile
from pytest_ollama_bench.stats import stats_over
from pytest_ollama_bench.stats import summarize

MS = 1_000_000


def _recorded(final: dict[str, object], chunks: list[tuple[int, str, str]]) -> Recorder:
    rec = Recorder(model="llama3.2")
    rec.sent(0)
    rec.headers(5 * MS)
    for t, content, thinking in chunks:
        rec.chunk(t * MS, content=content, thinking=thinking)
    rec.done(chunks[-1][0] * MS, final)
    return rec


def test_ttft_counts_thinking_and_skips_empty_chunks() -> None:
    rec = _recorded(
        {"done": True, "done_reason": "stop", "eval_count": 4, "eval_duration": 2_000_000_000},
        [(10, "", ""), (20, "", "hmm"), (30, "Hi", ""), (45, "!", ""), (50, "", "")],
    )
    m = rec.measurement()
    assert m.first_chunk_ms == 10
    assert m.ttft_ms == 20  # thinking counts
    assert m.ttft_thinking_ms == 20
    assert m.ttft_content_ms == 30
    assert m.itl_ms == [10, 15]  # gaps between non-empty chunks only
    assert m.total_ms == 50
    assert m.headers_ms == 5
    assert m.text == "Hi!"
    assert m.thinking == "hmm"
    assert m.chunks == 5
    assert m.tokens_per_s == pytest.approx(2.0)
    # (last output chunk - ttft) / (eval_count - 1): the empty chunk at 50 is no token
    assert m.last_token_ms == 45
    assert m.tpot_ms == pytest.approx((45 - 20) / 3)


def test_omitted_server_metrics_stay_none() -> None:
    m = _recorded({"done": True}, [(1, "x", "")]).measurement()
    assert m.eval_count is None
    assert m.tokens_per_s is None
    assert m.prompt_tokens_per_s is None
    assert m.load_ms is None
    assert m.tpot_ms is None
    assert m.done_reason is None


def test_server_durations_convert_to_ms_and_rates() -> None:
    final = {
        "done": True,
        "done_reason": "length",
        "total_duration": 412_345_678,
        "load_duration": 21_034_567,
        "prompt_eval_count": 36,
        "prompt_eval_duration": 88_123_000,
        "eval_count": 24,
        "eval_duration": 290_456_000,
    }
    m = _recorded(final, [(1, "x", "")]).measurement()
    assert m.load_ms == pytest.approx(21.034567)
    assert m.server_total_ms == pytest.approx(412.345678)
    assert m.prompt_tokens_per_s == pytest.approx(36 / 0.088123)
    assert m.tokens_per_s == pytest.approx(24 / 0.290456)
    assert m.done_reason == "length"


def test_measurement_needs_done() -> None:
    rec = Recorder(model="m")
    rec.sent(0)
    with pytest.raises(RuntimeError, match="done"):
        rec.measurement()


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_summarize_agrees_with_statistics_module(values: list[float]) -> None:
    s = summarize(values)
    assert s.n == len(values)
    assert s.min == min(values)
    assert s.max == max(values)
    assert math.isclose(s.median, statistics.median(values), rel_tol=1e-9, abs_tol=1e-6)
    assert s.min <= s.p90 <= s.p95 <= s.p99 <= s.max
    if len(values) > 1:
        assert math.isclose(s.stddev, statistics.stdev(values), rel_tol=1e-6, abs_tol=1e-6)
        qs = statistics.quantiles(values, n=100, method="inclusive")
        assert math.isclose(s.p90, qs[89], rel_tol=1e-9, abs_tol=1e-6)
    else:
        assert s.stddev == 0


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 99) == 10
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_stats_over_ignores_warmup_and_absent_metrics() -> None:
    warm = _recorded({"done": True, "load_duration": 9_000 * MS}, [(900, "a", "")]).measurement()
    warm = warm.model_copy(update={"warmup": True})
    rounds = [
        _recorded({"done": True}, [(t, "a", ""), (t + 5, "b", "")]).measurement()
        for t in (10, 20, 30)
    ]
    stats = stats_over([warm, *rounds])
    assert stats["ttft_ms"].n == 3
    assert stats["ttft_ms"].median == 20
    assert "load_ms" not in stats  # only the warmup had it
    assert "tokens_per_s" not in stats
    assert stats["itl_ms"].n == 3
    assert stats["itl_ms"].max == 5
