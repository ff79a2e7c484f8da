"""Pulse events: which device got which pulses when — for circuit designers (aihwkit's users ask for pulse
trains with device locations).

An ``EventRecorder`` is attached to every tile of a network (``Tile.recorder``); after every call that fires
pulses (a stochastic or counted update, a refresh) the tile tells it, and it records, for the devices it
follows, the pulses that call added: one event per (device, side, polarity) with its count, stamped with the
network's training step and the tile's id and position. Devices followed: all, or a fixed random subset
(``subsample``); steps recorded: ``first_step`` … ``last_step`` (−1: to the end). Pulses outside the window
are not recorded but keep the counts straight. Costs nothing when no recorder is attached.

Events go to the trace (``/events``, docs/trace-format.md), committed with the epoch they belong to; ``hwsim
events TRACE --csv FILE`` writes them as CSV.
"""
from __future__ import annotations

import numpy as np

FIELDS = {"step": np.int64, "tile": np.int32, "row": np.int32, "col": np.int32, "side": np.int8,
          "polarity": np.int8, "count": np.int32}


class EventRecorder:
    """Records pulse events of the tiles of ``network`` (attach with ``attach``)."""

    def __init__(self, network, first_step: int = 0, last_step: int = -1, subsample: float = 1.0,
                 random_state=None):
        from hwsim.devices.rng import check_random_state
        rng = check_random_state(random_state)
        self.network, self.first, self.last = network, int(first_step), int(last_step)
        self.index, self.counts = {}, {}
        for tile in network.all_tiles():
            n = tile.rows * tile.cols
            k = max(1, int(round(subsample * n)))
            idx = np.arange(n) if k >= n else np.sort(rng.choice(n, k, replace=False))
            self.index[tile.tile_id] = idx
            self.counts[tile.tile_id] = tile.pulse_counts.reshape(4, -1)[:, idx].copy()
        self.buffer = []

    def attach(self) -> "EventRecorder":
        for tile in self.network.all_tiles():
            tile.recorder = self
        return self

    def detach(self) -> None:
        for tile in self.network.all_tiles():
            tile.recorder = None

    def record(self, tile) -> None:
        idx = self.index[tile.tile_id]
        now = tile.pulse_counts.reshape(4, -1)[:, idx]
        diff = now - self.counts[tile.tile_id]
        self.counts[tile.tile_id] = now.copy()
        step = self.network.step
        if step < self.first or (self.last >= 0 and step > self.last):
            return
        kind, j = np.nonzero(diff)
        if not len(j):
            return
        flat = idx[j]
        self.buffer.append({"step": np.full(len(j), step), "tile": np.full(len(j), tile.tile_id),
                            "row": flat // tile.cols, "col": flat % tile.cols, "side": kind // 2,
                            "polarity": np.where(kind % 2 == 0, 1, -1), "count": diff[kind, j]})

    def drain(self) -> dict:
        """The events recorded since the last drain, as columns."""
        out = {k: np.concatenate([b[k] for b in self.buffer]).astype(t) if self.buffer else np.zeros(0, t)
               for k, t in FIELDS.items()}
        self.buffer = []
        return out


def to_csv(events: dict, path: str) -> int:
    """Write events as CSV (columns as FIELDS; side 0 = G+, 1 = G−; polarity +1 potentiation, −1 depression);
    returns the rows written."""
    from hwsim.workflow.sweep import write_csv
    n = len(events["step"])
    rows = ({k: int(events[k][i]) for k in FIELDS} for i in range(n))
    write_csv(path, rows, list(FIELDS))
    return n
