"""The reviewer's hand-written mutants (four of five survived the tests before): each applied on its own to a
private copy of the package (see ``mutate.py``), Numba caches cleared, its module's tests run with -x.

    .venv/bin/python benchmarks/mutation/reviewer_mutants.py          # prints killed/survived and the test
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutate as M  # noqa: E402

# name, module, original text, mutated text; each is run against the tests written to catch it (then, if it
# survived those, against the module's whole selection in mutate.TESTS)
MUTANTS = [
    ("1 ExpStep additive-noise condition: or -> and", "devices/kernels.py",
     "if sigma > 0.0 and (consts[6] != 0.0 or consts[7] != 0.0):",
     "if sigma > 0.0 and (consts[6] != 0.0 and consts[7] != 0.0):"),
    ("2a stochastic_update: G- draws from G+'s stream", "learning_rules/pulses.py",
     "((2 * cell + 1) << 32) + counter)", "((2 * cell) << 32) + counter)"),
    ("2b counted_update: G- draws from G+'s stream", "learning_rules/pulses.py",
     "subkey(key, 2 * cell + 1), 0)", "subkey(key, 2 * cell), 0)"),
    ("3 DAC abs-max scale m / full_scale -> m * full_scale", "hwsim/hardware/periphery.py",
     "s = m / full_scale if m > 0.0 else 1.0", "s = m * full_scale if m > 0.0 else 1.0"),
    ("4 first-order IR drop uses the drop before adding the node's segment", "hwsim/hardware/ir_drop.py",
     "                drop += r * suffix\n                I[i] += G[i, j] * (vj - drop)\n",
     "                I[i] += G[i, j] * (vj - drop)\n                drop += r * suffix\n"),
]


NOISE = "tests/test_noise_closed_form.py::"
TARGETED = {  # the statistical tests aimed at each mutant (the NumPy references catch 2a, 2b and 3 as well)
    "1": [NOISE + "test_one_pulse_step_has_the_documented_mean_and_variance"],
    "2a": [NOISE + "test_stochastic_update_noise_of_g_plus_and_g_minus_is_independent"],
    "2b": [NOISE + "test_counted_update_noise_of_g_plus_and_g_minus_is_independent"],
    "3": ["tests/test_counted_update_and_converters.py::test_dac_equals_numpy_reference"],
    "4": ["tests/test_ir_drop_order.py"],
}


def main():
    only = sys.argv[1:]
    timeout = 1800.0
    base = Path("/tmp/hwsim-mutation-reviewer" + ("-" + "-".join(only) if only else ""))
    base.mkdir(parents=True, exist_ok=True)
    w = M.make_worker(0, base)
    M.check_worker(w)
    all_killed = True
    for name, module, old, new in MUTANTS:
        if only and name.split()[0] not in only:
            continue
        target = w / M.installed_path(module)
        source = target.read_text()
        assert source.count(old) == 1, (name, source.count(old))
        st = os.stat(target)
        try:
            target.write_text(source.replace(old, new))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9 * 5000))
            for dep in M.NUMBA_DEPENDENTS.get(module, []):
                for p in M._cache_files(w, dep):
                    p.unlink()
            status, dt, why = M.run_tests(w, module, timeout, TARGETED.get(name[:2].strip()))
            if status == "survived":
                status, dt2, why = M.run_tests(w, module, timeout)
                dt += dt2
        finally:
            target.write_text(source)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        all_killed &= status != "survived"
        print(f"{status:8s} {dt:6.1f}s  {name}  {why}", flush=True)
    return 0 if all_killed else 1


if __name__ == "__main__":
    sys.exit(main())
