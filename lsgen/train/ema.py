"""Exponential moving average of model weights (kept as separate stop-grad Vars)."""
from __future__ import annotations

import numpy as np

from lsgen.runtime import jt


class EMA:
    """Shadow weights w_ema <- d * w_ema + (1 - d) * w, for every float Var of `module`.

    The decay warms up as min(decay, (1 + n) / (10 + n)) over the first updates n, so early EMA
    weights are not dominated by the random initialisation.
    """

    def __init__(self, module, decay: float = 0.999):
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {k: v.clone().stop_grad() for k, v in module.state_dict().items()
                       if v.dtype.is_float()}

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    def update(self, module) -> None:
        decay = self.current_decay()
        with jt.no_grad():
            for name, var in module.state_dict().items():
                if name in self.shadow:
                    shadow = self.shadow[name]
                    shadow.update(shadow * decay + var.detach() * (1.0 - decay))
            # Evaluate now: nothing else reads the shadows until a save, so unsynced they would grow
            # one lazy step per update (pinning every old weight version) and be fused into a new,
            # ever longer kernel whenever Jittor executes them, recompiling step after step.
            jt.sync(list(self.shadow.values()))
        self.updates += 1

    def arrays(self, prefix: str = "ema.") -> dict[str, np.ndarray]:
        return {prefix + k: v.numpy() for k, v in self.shadow.items()}

    def load_arrays(self, arrays: dict[str, np.ndarray], updates: int, prefix: str = "ema.") -> None:
        """Restore shadow weights saved by `arrays` (keys must match exactly)."""
        from lsgen.checkpoint import check_compatible  # noqa: PLC0415

        own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        check_compatible({k: tuple(v.shape) for k, v in self.shadow.items()}, own, "EMA weights")
        for name, var in self.shadow.items():
            var.update(jt.array(own[name]).cast(var.dtype))
        jt.sync(list(self.shadow.values()))  # see lsgen.checkpoint.load_module
        self.updates = int(updates)

    def copy_to(self, module) -> None:
        """Write the EMA weights into `module` (e.g. an inference copy)."""
        state = module.state_dict()
        for name, shadow in self.shadow.items():
            state[name].update(shadow.clone())
