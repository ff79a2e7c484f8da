"""Mini-batch training of a network on tiles with a learning rule; metrics per epoch."""
from __future__ import annotations

import time

import numpy as np

from hwsim.devices.rng import check_random_state
from hwsim.workflow.datasets import Dataset


def one_hot(y, classes):
    out = np.zeros((len(y), classes), np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def evaluate(network, x, y, batch_size=512) -> float:
    return float(np.mean(network.predict(x, batch_size) == y))


LOSS_FACTOR = 10.0        # a step's loss above this × the first epoch's mean loss: diverged
PULSE_FACTOR = 100.0      # a step's pulses above this × the first epoch's median pulses per step: diverged


class DivergenceMonitor:
    """Stops a run that blows up: a loss that is not finite, a step's loss above ``LOSS_FACTOR`` × the first
    epoch's mean loss (during the first epoch: × the first step's loss), or a step's pulses above
    ``PULSE_FACTOR`` × the first epoch's median pulses per step (checked from the second epoch on)."""

    def __init__(self):
        self.first_losses, self.first_pulses = [], []
        self.loss_ref = self.pulse_ref = None
        self.reason = ""

    def check(self, epoch: int, loss: float, pulses: int) -> bool:
        """Record one step; True (with ``reason`` set) when the run diverged."""
        if not np.isfinite(loss):
            self.reason = f"loss is {loss} (epoch {epoch})"
        elif epoch == 1:
            self.first_losses.append(loss)
            self.first_pulses.append(pulses)
            if loss > LOSS_FACTOR * self.first_losses[0] > 0:
                self.reason = (f"loss {loss:.4g} > {LOSS_FACTOR:g} × the first step's {self.first_losses[0]:.4g} "
                               "(epoch 1)")
        else:
            if self.loss_ref is None:
                self.loss_ref = float(np.mean(self.first_losses))
                self.pulse_ref = float(np.median(self.first_pulses))
            if loss > LOSS_FACTOR * self.loss_ref:
                self.reason = (f"loss {loss:.4g} > {LOSS_FACTOR:g} × the first epoch's mean {self.loss_ref:.4g} "
                               f"(epoch {epoch})")
            elif pulses > PULSE_FACTOR * max(self.pulse_ref, 1.0):
                self.reason = (f"{pulses} pulses in one step > {PULSE_FACTOR:g} × the first epoch's median "
                               f"{self.pulse_ref:g} (epoch {epoch})")
        return bool(self.reason)


def train(network, rule, data: Dataset, epochs: int = 10, batch_size: int = 32, random_state=0,
          progress: bool = True, on_epoch=None) -> dict:
    """Train for ``epochs`` (``random_state``: None, int, SeedSequence or Generator, shuffles the training data
    each epoch); returns the history: per epoch train loss, test (and validation, when the data has a
    validation split) accuracy, pulses fired (and of those the refresh and transfer pulses, with the transfer
    schemes' reads), saturated devices, wall time. A run that blows up (``DivergenceMonitor``) or whose weights
    stop being finite stops with ``diverged`` and its ``diverged_reason`` recorded (no exception)."""
    # The tiles' matrix products are small (tile size × batch): a BLAS thread pool costs more than it gains,
    # and on a loaded machine far more (MNIST 784-256-128-10, batch 100, 2 busy cores: 132 ms per batch with
    # OpenBLAS's two threads, 40 ms with one). Numba's threads (the update kernels) are not affected.
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(network, rule, data, epochs, batch_size, random_state, progress, on_epoch)


def _train(network, rule, data, epochs, batch_size, random_state, progress, on_epoch):
    for name, val in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
    rng = check_random_state(random_state)          # the order of the training data
    classes = network.specs[-1].out_features
    if data.n_features != network.specs[0].in_features:
        raise ValueError(f"the network takes {network.specs[0].in_features} inputs, dataset {data.name!r} has "
                         f"{data.n_features} features")
    if data.n_classes > classes:
        raise ValueError(f"the network has {classes} outputs, dataset {data.name!r} has {data.n_classes} classes")
    hist = {"epoch": [], "train_loss": [], "test_accuracy": [], "val_accuracy": [], "pulses": [], "steps": [],
            "saturated": [],
            "wall_s": [], "pulses_potentiation": [], "pulses_depression": [], "refresh_pulses": [], "refreshes": [],
            "transfer_pulses": [], "transfer_reads": [], "diverged": False, "diverged_reason": "", "extra": {}}
    monitor = DivergenceMonitor()
    totals = network.pulse_totals()
    n = len(data.x_train)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=epochs * ((n + batch_size - 1) // batch_size), desc=f"{rule.full_name}", unit="batch",
                   leave=False)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses, pulses = [], 0
        epoch_extra = {}
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            stats = rule.step(network, data.x_train[idx], one_hot(data.y_train[idx], classes))
            network.step += 1
            losses.append(stats["loss"])
            pulses += stats["pulses"]
            for key, val in stats.items():
                if key not in ("loss", "pulses"):
                    hist["extra"][key] = hist["extra"].get(key, 0) + val
                    epoch_extra[key] = epoch_extra.get(key, 0) + val
            if bar:
                bar.update(1)
            if monitor.check(epoch, stats["loss"], stats["pulses"]):
                hist["diverged"], hist["diverged_reason"] = True, monitor.reason
                break
        if not hist["diverged"] and not all(np.all(np.isfinite(m.get_weights())) for m in network.matrices.values()):
            hist["diverged"], hist["diverged_reason"] = True, f"weights not finite (epoch {epoch})"
        if hist["diverged"]:
            break
        hist["epoch"].append(epoch)
        hist["train_loss"].append(float(np.mean(losses)))
        hist["test_accuracy"].append(evaluate(network, data.x_test, data.y_test))
        if data.x_val is not None:
            hist["val_accuracy"].append(evaluate(network, data.x_val, data.y_val))
        hist["pulses"].append(int(pulses))
        hist["steps"].append(len(losses))
        now = network.pulse_totals()
        hist["pulses_potentiation"].append(now[0] - totals[0])
        hist["pulses_depression"].append(now[1] - totals[1])
        totals = now
        hist["refresh_pulses"].append(int(epoch_extra.get("refresh_pulses", 0)))
        hist["refreshes"].append(int(epoch_extra.get("refreshes", 0)))
        hist["transfer_pulses"].append(int(epoch_extra.get("transfer_pulses", 0)))
        hist["transfer_reads"].append(int(epoch_extra.get("transfer_reads", 0)))
        hist["saturated"].append(network.saturated_fraction())
        hist["wall_s"].append(time.perf_counter() - t0)
        if bar:
            bar.set_postfix(acc=f"{hist['test_accuracy'][-1]:.3f}")
        if on_epoch:
            on_epoch(hist)
    if bar:
        bar.close()
    return hist
