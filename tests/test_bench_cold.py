"""benchmarks/cold_compile.py: the bookkeeping around its child processes (the timing itself is a benchmark)."""
from __future__ import annotations

import pytest

from benchmarks import cold_compile


def test_empty_kernels_removes_compiled_kernels_and_keeps_the_core(tmp_path):
    cache = tmp_path / "cache"
    (cache / "jit").mkdir(parents=True)
    for name in ("a_op.so", "a_op.cc", "b_op.so"):
        (cache / "jit" / name).write_text("x")
    (cache / "jittor_core.so").write_text("core")
    assert cold_compile.count_kernels(cache) == 2
    cold_compile.empty_kernels(cache)
    assert cold_compile.count_kernels(cache) == 0 and list((cache / "jit").iterdir()) == []
    assert (cache / "jittor_core.so").read_text() == "core"


def test_compile_time_is_the_first_two_calls_beyond_steady_ones():
    timings = {"first_forward": 40.0, "second_forward": 1.0, "third_forward": 0.5, "first_train": 60.0,
               "second_train": 5.0, "third_train": 2.0, "warmup": 0.0, "warmup_kernels": 0, "kernels": 157}
    assert cold_compile.compile_seconds(timings, "forward") == pytest.approx(40.0)
    assert cold_compile.compile_seconds(timings, "train") == pytest.approx(61.0)
    row = cold_compile.table_row("fused", timings)
    assert row[0] == "fused" and row[-2] == pytest.approx(101.0) and row[-1] == 157
    assert len(row) == len(cold_compile.HEADER)
