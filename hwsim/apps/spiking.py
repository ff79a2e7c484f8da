"""Run a crossbar-trained network as a spiking network with brian2 (docs/spiking.md).

Weights come from the network a trace stores (its devices' states after the last finished epoch): per layer
the float W and b it computes, W = (G+ − G−)/g_unit · digital scale for dense layers with g_unit =
(g_max − g_min)/(w_max − w_min) siemens per weight unit, factorised layers multiplied out, centring and
decorrelation folded in. One presynaptic spike
moves the postsynaptic membrane by w·(normalised) volts — the charge G·V_read·t_read a read pulse delivers,
divided by the membrane capacitance, expressed in units of the threshold (docs/spiking.md).

Conversion (Diehl et al., IJCNN 2015, data-based normalisation): for each layer l the activation scale λ_l is
the 99.9th percentile of its ReLU activations over the training inputs; weights W_l·λ_{l−1}/λ_l and biases
b_l/λ_l make every layer's largest activations map to the threshold rate. The output biases are first all
raised by the same amount (argmax unchanged) so that the top logit of 99 % of training samples is positive. Inputs x ∈ [0, 1] spike at
x·max_rate (Poisson or regular); a neuron with normalised drive a fires at ≈ max_rate·ReLU(a).

Neurons: integrate-and-fire with leak, dv/dt = −v/τ_m + b·max_rate, threshold v_th = 1, reset by
subtraction (v ← v − 1; Rueckauer et al. 2017 — keeps the charge above threshold) or to zero, no refractory
period. Synapses: on a presynaptic spike v_post += w. Readout: the output neuron with most spikes in the
window; ties go to the higher membrane potential at the end, then to the lower class index.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

RESETS = ("subtract", "zero")
MAX_STEPS = 1_000_000       # time steps per presentation (duration/dt) without force: 100 s at 0.1 ms
MAX_READ_NOISE = 10.0       # relative synaptic read noise (1 = 100 %)
INPUTS = ("poisson", "regular")


@dataclass
class SpikingNet:
    """Weights (out × in) and biases per layer, all ReLU but the last (linear readout)."""

    weights: list
    biases: list

    def analog_forward(self, x):
        h = np.asarray(x, float)
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ W.T + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0)
        return h

    def normalised(self, x_train, percentile=99.9) -> "SpikingNet":
        """Data-based normalisation (Diehl et al. 2015) on the training inputs."""
        lam_prev = 1.0
        Ws, bs = [], []
        h = np.asarray(x_train, float)
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            a = h @ W.T + b
            if i == len(self.weights) - 1:
                # logits are shift-invariant, spike counts are not: lift all output biases so that the largest
                # logit of 99 % of the training samples is positive (else the winner may never fire)
                shift = max(0.0, -float(np.percentile(a.max(axis=1), 1)))
                b = b + shift
                a = a + shift
            h = np.maximum(a, 0) if i < len(self.weights) - 1 else a
            lam = float(np.percentile(np.maximum(a, 0), percentile)) or 1.0
            Ws.append(W * lam_prev / lam)
            bs.append(b / lam)
            lam_prev = lam
        return SpikingNet(Ws, bs)


def from_trace(path) -> tuple["SpikingNet", object]:
    """The network stored in a trace (its state after the last finished epoch) as float layers, and its config.
    Every layer form converts: factorised layers by their effective W = U·diag(s)·Vᵀ (or Q·diag(λ)·Pᵀ),
    decorrelated inputs by folding R and μ into W and b (``Network.effective_layers``). Rate coding needs
    ReLU hidden layers."""
    from hwsim.workflow.trace import Trace, TraceError
    with Trace(path) as t:
        cfg = t.config
        if cfg.network["activation"] != "relu":
            raise TraceError(f"{path}: rate coding approximates ReLU networks; this one uses "
                             f"{cfg.network['activation']!r}")
        net = t.network()
    layers = net.effective_layers()
    for i, (W, b) in enumerate(layers):
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise TraceError(f"{path}: layer {i} has non-finite weights (a diverged run?)")
    return SpikingNet([W for W, _ in layers], [b for _, b in layers]), cfg


def parse_time(text, name) -> float:
    """'100ms', '0.1 ms', '2s', '50us' or seconds as a number → seconds (> 0)."""
    s = str(text).strip().lower().replace(" ", "")
    for unit, factor in (("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("s", 1.0)):
        if s.endswith(unit):
            s, scale = s[: -len(unit)], factor
            break
    else:
        scale = 1.0
    try:
        value = float(s) * scale
    except ValueError:
        raise ValueError(f"{name} must be a time like 100ms, 0.1ms or 1s, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be > 0, got {text!r}")
    return value


def check_run(duration: float, dt: float, read_noise: float = 0.0, force: bool = False) -> None:
    """Refuse runs that cannot finish or mean nothing, before anything is loaded: more than ``MAX_STEPS``
    time steps per presentation (unless ``force``), read noise that is not a finite number in [0, 10]."""
    from hwsim.devices.validation import Real, check
    check("--read-noise", read_noise, Real(0.0, MAX_READ_NOISE))
    check("--duration", duration, Real(0.0, lo_open=True))
    check("--dt", dt, Real(0.0, lo_open=True))
    steps = duration / dt
    if steps > MAX_STEPS and not force:
        raise ValueError(f"--duration / --dt = {steps:.3g} time steps per sample, above the limit of {MAX_STEPS:g} "
                         "(--duration 100s at --dt 0.1ms); shorten --duration, raise --dt or give --force")


def simulate(net: SpikingNet, x, duration=0.1, dt=1e-4, max_rate=200.0, tau_m=1.0, input_mode="poisson",
             reset="subtract", read_noise=0.0, seed=0, record_raster=False, target="cython",
             force: bool = False) -> dict:
    """Simulate every sample of x (n × in) as its own copy of the network, in one brian2 run.

    Returns output spike counts (n × classes), spike times of the output layer per sample, spikes and
    synaptic events per inference, and the predicted classes. ``target``: brian2's code generation,
    "cython" (compiled, ~20 s for a new network) or "numpy" (no compilation; tests use it)."""
    if not (isinstance(duration, (int, float)) and duration > 0):
        raise ValueError(f"duration must be > 0 s, got {duration!r}")
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be > 0 s, got {dt!r}")
    if dt > duration / 10:
        raise ValueError(f"dt ({dt * 1e3:g} ms) must be at most a tenth of the duration ({duration * 1e3:g} ms)")
    if dt > 1e-3:
        raise ValueError(f"dt must be <= 1 ms for rates up to max_rate, got {dt * 1e3:g} ms")
    if not max_rate > 0 or max_rate * dt > 0.5:
        raise ValueError(f"max_rate must be > 0 and below 0.5/dt = {0.5 / dt:g} Hz, got {max_rate}")
    if input_mode not in INPUTS:
        raise ValueError(f"input must be one of {INPUTS}, got {input_mode!r}")
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if target not in ("cython", "numpy"):
        raise ValueError(f"target must be 'cython' or 'numpy', got {target!r}")
    if not tau_m > 0:
        raise ValueError(f"tau_m must be > 0 s, got {tau_m}")
    check_run(duration, dt, read_noise, force)
    import brian2 as b2
    b2.prefs.codegen.target = target
    b2.start_scope()
    b2.defaultclock.dt = dt * b2.second
    b2.seed(seed)
    rng = np.random.default_rng(seed)
    x = np.atleast_2d(np.asarray(x, float))
    n = len(x)
    rates = np.clip(x, 0, 1).ravel() * max_rate
    if input_mode == "poisson":
        inp = b2.PoissonGroup(rates.size, rates=rates * b2.Hz)
    else:
        inp = b2.NeuronGroup(rates.size, "dv/dt = r : 1\nr : Hz (constant)", threshold="v >= 1",
                             reset="v -= 1", method="euler")
        inp.r = rates * b2.Hz
    groups, syns, mons = [inp], [], []
    reset_code = "v -= 1" if reset == "subtract" else "v = 0"
    eqs = "dv/dt = -v / tau + drive : 1\ndrive : Hz (constant)\ntau : second (constant)"
    n_prev = x.shape[1]
    for li, (W, b) in enumerate(zip(net.weights, net.biases)):
        n_out = W.shape[0]
        g = b2.NeuronGroup(n * n_out, eqs, threshold="v >= 1", reset=reset_code, method="exact")
        g.tau = tau_m * b2.second
        g.drive = np.tile(b, n) * max_rate * b2.Hz
        keep = np.broadcast_to(W != 0, (n, n_out, n_prev))
        if keep.any():                     # one copy of the layer per sample: block-diagonal synapses
            s = b2.Synapses(groups[-1], g, "w : 1", on_pre="v_post += w")
            pre = (np.arange(n)[:, None, None] * n_prev + np.arange(n_prev)[None, None, :]).repeat(n_out, 1)
            post = (np.arange(n)[:, None, None] * n_out + np.arange(n_out)[None, :, None]).repeat(n_prev, 2)
            s.connect(i=pre[keep], j=post[keep])
            w = np.broadcast_to(W, (n, n_out, n_prev))[keep]
            if read_noise:
                w = w * (1 + read_noise * rng.standard_normal(w.shape))
            s.w = w
            syns.append(s)
        groups.append(g)
        n_prev = n_out
    for g in groups:
        mons.append(b2.SpikeMonitor(g, record=True))
    network = b2.Network(*groups, *syns, *mons)
    t0 = time.perf_counter()
    network.run(duration * b2.second, namespace={})
    wall = time.perf_counter() - t0
    classes = net.weights[-1].shape[0]
    out_mon = mons[-1]
    counts = np.bincount(np.asarray(out_mon.i), minlength=n * classes).reshape(n, classes)
    v_end = np.asarray(groups[-1].v).reshape(n, classes)
    pred = np.lexsort((-np.arange(classes)[None, :].repeat(n, 0), v_end, counts))[:, -1]
    spikes = sum(len(m.i) for m in mons[1:]) / n
    fan_out = [W.shape[0] for W in net.weights]
    events = sum(len(m.i) * f for m, f in zip(mons[:-1], fan_out)) / n
    out_times = (np.asarray(out_mon.t / b2.second), np.asarray(out_mon.i))
    res = {"counts": counts, "predicted": pred, "spikes_per_inference": float(spikes),
           "synaptic_events_per_inference": float(events), "output_spikes": out_times, "n": n,
           "classes": classes, "duration": duration, "sim_wall_s": wall}
    if record_raster:
        res["raster"] = [(np.asarray(m.t / b2.second), np.asarray(m.i)) for m in mons]
        res["layer_sizes"] = [x.shape[1]] + [W.shape[0] for W in net.weights]
    return res


def accuracy_over_time(res, labels, times):
    """Accuracy of the running readout (spike counts up to t; no spike yet: wrong) at each t."""
    t, i = res["output_spikes"]
    n, k = res["n"], res["classes"]
    out = []
    for T in times:
        sel = t <= T
        counts = np.bincount(i[sel], minlength=n * k).reshape(n, k)
        pred = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1), -1)
        out.append(float(np.mean(pred == labels)))
    return np.array(out)


def first_correct_latency(res, labels):
    """Per sample, the first time the running readout names the right class (NaN if never)."""
    t, i = res["output_spikes"]
    n, k = res["n"], res["classes"]
    order = np.argsort(t, kind="stable")
    counts = np.zeros((n, k), int)
    lat = np.full(n, np.nan)
    for ti, ii in zip(t[order], i[order]):
        s, c = divmod(int(ii), k)
        counts[s, c] += 1
        if np.isnan(lat[s]) and counts[s].argmax() == labels[s]:
            lat[s] = ti
    return lat
