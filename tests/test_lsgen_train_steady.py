"""Steady-state training steps: every step must leave no growing lazy graph behind and compile no
new kernel once warm (regression: EMA shadows used to chain lazily from step to step; past Jittor's
100k-lived-ops threshold (var_holder.cc add_hold_vars) the chains were cut at arbitrary lengths, so
nearly every step compiled a new fused kernel, and every step's weights stayed alive)."""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager

from toy_task import ToyDataset, make_task

from lsgen.data.loader import BatchLoader
from lsgen.runtime import jt
from lsgen.train.loop import TrainConfig, Trainer

WARMUP, MEASURED = 5, 6
COMPILE_LINE = re.compile(r"Compile op\s*(\S{0,120})")


@contextmanager
def jit_compile_log():
    """Make Jittor print one 'Compile op' line per kernel key new to this process, on fd 2 (test
    instrumentation; this process's own log, so other processes compiling meanwhile cannot count)."""
    silent, prefix = jt.flags.log_silent, jt.flags.log_vprefix
    jt.flags.log_silent, jt.flags.log_vprefix = 0, "jit_compiler=10"
    try:
        yield
    finally:
        jt.flags.log_silent, jt.flags.log_vprefix = silent, prefix


def test_warm_training_steps_keep_no_pending_graph_and_compile_nothing(tmp_path, capfd):
    cfg = TrainConfig(steps=WARMUP + MEASURED, batch_size=4, ema_decay=0.9, log_every=100, save_every=100,
                      preview_every=0)
    task = make_task(cfg, clip=1.0)  # clipping on: its rescale path is part of the steady step too
    trainer = Trainer(task, cfg, BatchLoader(ToyDataset(n=16), cfg.batch_size, seed=0), tmp_path, progress=False)
    for _ in range(WARMUP):
        trainer.train_step()
    gc.collect()
    lived = [jt.liveness_info()["lived_ops"]]
    with jit_compile_log():
        capfd.readouterr()
        # a kernel key unique to this test proves the log is really on (else "0 compiles" is vacuous)
        jt.code([1], "float32", [], cpu_src="@out(0) = 1.0f; // test_lsgen_train_steady probe").sync()
        assert COMPILE_LINE.search(capfd.readouterr().err), "Jittor's compile log did not switch on"
        for _ in range(MEASURED):
            trainer.train_step()
            lived.append(jt.liveness_info()["lived_ops"])
        log = capfd.readouterr().err
    assert max(lived) == lived[0], f"the lazy graph grows step after step: lived ops {lived}"
    compiled = COMPILE_LINE.findall(log)
    assert not compiled, f"{len(compiled)} kernels compiled in warm steps {WARMUP}..{WARMUP + MEASURED - 1}: {compiled}"
