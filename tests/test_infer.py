"""Deployment over time: programming onto fresh devices, drift by its power law, accuracy at each time."""
import json

import numpy as np
import pytest

from hwsim.apps.cli import main
from hwsim.workflow.infer import parse_times


def test_times_parse_and_errors():
    assert parse_times("1s, 1h,1d,1y") == [1.0, 3600.0, 86400.0, 365.25 * 86400.0]
    assert parse_times("10min,2") == [2.0, 600.0]
    for bad in ("", "x", "-1s", "1e9y"):
        with pytest.raises(ValueError, match="--times"):
            parse_times(bad)


def test_pcm_conductance_decays_by_the_drift_law_and_accuracy_follows(tmp_path, capsys):
    """pcm-ibm (ν ~ N(0.05, 0.01²), t0 = 20 s): the mean conductance at t relative to the programmed one is
    E[(t/t0)^(−ν)] = exp(−μ·L + σ²L²/2), L = ln(t/t0), within 1 % (thousands of devices); accuracy after a
    year is not above accuracy at t0."""
    path = str(tmp_path / "pcm.h5")
    assert main(["train", "--rule", "bp+unidirectional", "--device", "pcm-ibm", "--epochs", "4", "--lr", "0.3",
                 "--trace", path, "--quiet"]) == 0
    assert main(["infer", path, "--times", "20s,1h,1y", "--program", "ideal", "--draws", "2", "--json",
                 "-o", str(tmp_path / "i.png")]) == 0
    res = json.loads(capsys.readouterr().out)
    mu, sd, t0 = 0.05, 0.01, 20.0
    for t, ratio in zip(res["times_s"], res["conductance_ratio_mean"]):
        L = np.log(t / t0)
        assert ratio == pytest.approx(np.exp(-mu * L + sd ** 2 * L ** 2 / 2), rel=0.01), t
    acc = res["accuracy_mean"]
    assert acc[0] > 0.3 and acc[-1] <= acc[0] + 0.02
    assert (tmp_path / "i.png").read_bytes()[:4] == b"\x89PNG"


def test_write_and_verify_programming_counts_pulses(tmp_path, capsys):
    path = str(tmp_path / "e.h5")
    assert main(["train", "--rule", "bp", "--device", "ecram-ibm", "--epochs", "2", "--lr", "0.3", "--trace",
                 path, "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert main(["infer", path, "--times", "1s", "--draws", "1", "--json", "-o", str(tmp_path / "i.png")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["programming_pulses_mean"] > 0 and trained > 0.5
    assert res["accuracy_mean"][0] > trained - 0.15        # fresh devices, programmed to within one step


@pytest.mark.parametrize("rule", ["bp", "dfa_svd"])          # stochastic updates; counted (Stiefel) updates
def test_pulse_events_sum_to_the_pulse_counters(rule, tmp_path, capsys):
    """Every pulse recorded: summed per device and kind, the events equal the trace's final pulse counters."""
    import csv

    from hwsim.workflow.trace import Trace
    path = str(tmp_path / "t.h5")
    assert main(["train", "--rule", rule, "--device", "reram-sb", "--epochs", "2", "--hidden", "8", "--events",
                 "--trace", path, "--quiet"]) == 0
    with Trace(path) as t:
        ev = t.events()
        assert len(ev["step"]) > 0 and ev["step"].max() < int(t.metrics()["steps"].sum())
        tiles = {tile.attrs["tile_id"]: t.pulse_count(tile) for name in t.matrices() for tile in t.tiles(name)}
    for tid, counts in tiles.items():
        got = np.zeros_like(counts)
        sel = ev["tile"] == tid
        kind = 2 * ev["side"][sel] + (ev["polarity"][sel] < 0)
        np.add.at(got, (kind, ev["row"][sel], ev["col"][sel]), ev["count"][sel])
        np.testing.assert_array_equal(got, counts)
    out = tmp_path / "e.csv"
    assert main(["events", path, "--csv", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == len(ev["step"])
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == len(ev["step"]) and set(rows[0]) == {"step", "tile", "row", "col", "side", "polarity",
                                                              "count"}


def test_event_window_and_subsample(tmp_path):
    from hwsim.workflow.trace import Trace
    path = str(tmp_path / "t.h5")
    assert main(["train", "--rule", "bp", "--device", "reram-sb", "--epochs", "1", "--hidden", "8", "--events",
                 "--set", "trace.events_first_step=5", "--set", "trace.events_last_step=9", "--set",
                 "trace.events_subsample=0.25", "--trace", path, "--quiet"]) == 0
    with Trace(path) as t:
        ev = t.events()
    assert ev["step"].min() >= 5 and ev["step"].max() <= 9
    devices_seen = {(int(a), int(b), int(c)) for a, b, c in zip(ev["tile"], ev["row"], ev["col"])}
    assert len(devices_seen) <= 0.25 * (8 * 65 + 10 * 9) + 2
