"""Stochastic pulse trains (``learning_rules.pulses.pulse_trains``) against the NumPy reference on the same
hashes, and against Bernoulli statistics, from tiny to near-one probabilities."""
import numpy as np
import pytest

from hwsim.learning_rules.pulses import pulse_trains
from tests import reference as ref

REGIMES = {"tiny": [1e-5, 0.003], "small": [0.0625, 0.2], "half": [0.4, 0.5], "large": [0.8, 0.999]}


@pytest.mark.parametrize("bl", [1, 7, 31, 64])
def test_trains_equal_bit_by_bit_reference(bl):
    """Same key ⇒ the same bits as the reference, for values in every regime, signs and zeros included."""
    probs = np.array([p for ps in REGIMES.values() for p in ps] + [0.0, 1.0])
    rng = np.random.default_rng(3)
    v = rng.choice(probs, (40, 25)) * rng.choice([-1.0, 1.0], (40, 25))
    bits, neg, saturated = pulse_trains(v, 1.0, bl, np.uint64(77), False)
    want_bits, want_neg = ref.pulse_trains(v, 1.0, bl, np.uint64(77))
    np.testing.assert_array_equal(bits, want_bits)
    np.testing.assert_array_equal(neg, want_neg)
    assert saturated == 0


def test_trains_equal_reference_at_every_lane_boundary():
    """The four-lanes-at-once comparison (``_four_bits``) against the plain one: thresholds where the lanes'
    top bits or low 15 bits tie, the largest threshold below 1, and uniformly spread probabilities."""
    edges = np.array([1, 2, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xC000, 0xFFFE, 0xFFFF]) / 65536.0
    rng = np.random.default_rng(8)
    v = np.concatenate([np.repeat(edges, 400), rng.uniform(0, 1, 4000)]).reshape(-1, 40)
    for bl in (31, 64):
        bits, _, _ = pulse_trains(v, 1.0, bl, np.uint64(5), False)
        np.testing.assert_array_equal(bits, ref.pulse_trains(v, 1.0, bl, np.uint64(5))[0])


@pytest.mark.parametrize("regime", list(REGIMES))
def test_train_bits_are_independent_bernoulli(regime):
    """Per bit position, the firing frequency over 40 000 trains is p within 5 standard errors (p resolved to
    1/65536), and two positions fire together with frequency p² within 5 standard errors."""
    for p in REGIMES[regime]:
        p_exact = np.floor(p * 65536 + 0.5) / 65536
        v = np.full((200, 200), p)
        bits = pulse_trains(v, 1.0, 31, np.uint64(int(p * 1e6) + 1), False)[0].ravel()
        fired = (bits[:, None] >> np.arange(31, dtype=np.uint64)) & np.uint64(1)
        n = bits.size
        se = np.sqrt(p_exact * (1 - p_exact) / n)
        assert np.all(np.abs(fired.mean(axis=0) - p_exact) < 5 * se + 1e-12), (regime, p)
        both = (fired[:, 0] & fired[:, 30]).mean(), (fired[:, 5] & fired[:, 6]).mean()
        se2 = np.sqrt(p_exact ** 2 * (1 - p_exact ** 2) / n)
        assert all(abs(b - p_exact ** 2) < 5 * se2 + 1e-12 for b in both), (regime, p)
