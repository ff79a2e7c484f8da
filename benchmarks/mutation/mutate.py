"""Operator mutation testing for hwsim's physics (Numba kernels included), one mutant at a time.

Why not mutmut: mutmut 3.8 skips every decorated function (so no ``@njit`` kernel gets a single mutant) and
its ``mutants/`` copy shadows the ``hwsim`` package (devices/ and learning_rules/ install as hwsim.devices and
hwsim.learning_rules). This script instead mutates the AST of one module, writes it into a private copy of the
package laid out as installed, clears the Numba caches the change can reach, runs that module's tests with
``-x`` and a timeout, and restores source and caches.

Operators (function bodies only; docstrings, strings, f-strings, decorators and annotations untouched):
    binary and augmented operators  + ↔ −, * ↔ /, // → /, ** → *, % → //, << ↔ >>, & ↔ |, ^ → |
    comparisons                      < ↔ <=, > ↔ >=, == ↔ !=, is ↔ is not, in ↔ not in
    boolean                          and ↔ or, `not x` → x, −x → x
    constants                        int n → n + 1, float f → f + 1, True ↔ False
    calls                            min ↔ max (also np.minimum ↔ np.maximum)
    statements                       an assignment, augmented assignment, expression call or raise → pass

Usage (from the repository root, with the project's venv):
    .venv/bin/python benchmarks/mutation/mutate.py                     # every module, 2 workers
    .venv/bin/python benchmarks/mutation/mutate.py --modules devices/kernels.py --jobs 2
    .venv/bin/python benchmarks/mutation/mutate.py --list              # mutants only, no tests
    .venv/bin/python benchmarks/mutation/mutate.py --report            # score from the results file
Results go to benchmarks/mutation/results/<module>.json (one record per mutant, resumable: mutants already
recorded for an unchanged module source are skipped; --fresh reruns). Mutants judged equivalent are listed,
with the reason, in benchmarks/mutation/equivalent.json and left out of the score.
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
EQUIVALENT = HERE / "equivalent.json"

# repository path → path inside the installed layout (hwsim/…)
LAYOUT = {"devices": "hwsim/devices", "learning_rules": "hwsim/learning_rules", "hwsim": "hwsim"}

D = "tests/test_device_"
# device level (only ``apply_pulses`` to recompile), then the fused update kernels
DEVICE_TESTS = [f"{D}kernels.py", f"{D}closed_form.py",
                "tests/test_noise_closed_form.py::test_one_pulse_step_has_the_documented_mean_and_variance",
                "tests/test_noise_closed_form.py::test_two_level_device_takes_only_its_bounds",
                "tests/test_noise_closed_form.py::test_stuck_devices_are_pinned_by_any_step",
                f"{D}statistics.py", "tests/test_counted_update_and_converters.py::test_counted_update_equals_numpy_reference",
                "tests/test_tile.py::test_stochastic_update_equals_numpy_reference"]
UPDATE_TESTS = ["tests/test_counted_update_and_converters.py::test_counted_update_equals_numpy_reference",
                "tests/test_tile.py", "tests/test_noise_closed_form.py"]
RULE_TESTS = ["tests/test_rules.py", "tests/test_noise_closed_form.py"]
# module → tests that exercise it, fastest discriminating ones first (pytest stops at the first failure)
TESTS = {
    "devices/kernels.py": DEVICE_TESTS,
    "devices/rng.py": DEVICE_TESTS + ["tests/test_state_and_seeds.py"],
    "devices/base.py": DEVICE_TESTS + [f"{D}validation.py"],
    "devices/pulsed.py": DEVICE_TESTS + [f"{D}validation.py", "tests/test_fit.py"],
    "devices/curves.py": DEVICE_TESTS + [f"{D}validation.py", "tests/test_fit.py"],
    "devices/validation.py": [f"{D}validation.py", "tests/test_tile.py", "tests/test_rules.py"],
    "devices/fit.py": ["tests/test_fit.py", "tests/test_cli_devices.py"],
    "devices/presets.py": [f"{D}validation.py", "tests/test_cli_devices.py", "tests/test_fit.py"],
    "devices/__init__.py": [f"{D}validation.py", f"{D}kernels.py", "tests/test_cli_devices.py"],
    "devices/response.py": ["tests/test_cli_devices.py", "tests/test_fit.py"],
    "devices/units.py": ["tests/test_cli_devices.py"],
    "learning_rules/pulses.py": UPDATE_TESTS,
    "learning_rules/dfa.py": ["tests/test_noise_closed_form.py", "tests/test_rules.py"],
    "learning_rules/base.py": RULE_TESTS,
    "learning_rules/bp.py": RULE_TESTS,
    "learning_rules/decorrelation.py": RULE_TESTS,
    "learning_rules/dfa_svd.py": RULE_TESTS,
    "learning_rules/enn.py": RULE_TESTS,
    "learning_rules/interface.py": RULE_TESTS + ["tests/test_tile.py"],
    "learning_rules/unidirectional.py": RULE_TESTS,
    "hwsim/hardware/periphery.py": ["tests/test_counted_update_and_converters.py", "tests/test_noise_closed_form.py"],
    "hwsim/hardware/ir_drop.py": ["tests/test_ir_drop_order.py", "tests/test_tile.py"],
}
# Numba modules whose cached machine code includes another module's jitted functions (inlined or called)
NUMBA_DEPENDENTS = {
    "devices/rng.py": ["devices/rng.py", "devices/kernels.py", "learning_rules/pulses.py", "hwsim/hardware/periphery.py"],
    "devices/kernels.py": ["devices/kernels.py", "learning_rules/pulses.py"],
    "learning_rules/pulses.py": ["learning_rules/pulses.py"],
    "hwsim/hardware/periphery.py": ["hwsim/hardware/periphery.py"],
    "hwsim/hardware/ir_drop.py": ["hwsim/hardware/ir_drop.py"],
}
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", "-k", "not thread", "-rf", "--tb=no"]

BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
            ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
            ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitOr}
CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
CALL_SWAP = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum"}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**",
          ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
          ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or"}


# ---- mutant generation ---------------------------------------------------------------------------------------
def _skip_ids(tree):
    """ids of nodes never mutated: docstrings, f-strings, decorators, annotations, default values."""
    skip = set()

    def mark(node):
        for sub in ast.walk(node):
            skip.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                mark(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                mark(dec)
            mark(node.args)
            if node.returns:
                mark(node.returns)
        if isinstance(node, (ast.JoinedStr, ast.AnnAssign)):
            mark(node.annotation if isinstance(node, ast.AnnAssign) else node)
        if isinstance(node, ast.arg) and node.annotation:
            mark(node.annotation)
    return skip


def _function_nodes(tree):
    """Nodes inside function bodies (nested functions included), in a deterministic order."""
    seen, out = set(), []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in fn.body:
                for node in ast.walk(stmt):
                    if id(node) not in seen:
                        seen.add(id(node))
                        out.append(node)
    return out


def mutations(source: str):
    """[(index, key, line, description)], index addressing ``apply``."""
    tree = ast.parse(source)
    skip = _skip_ids(tree)
    out = []
    for idx, node in enumerate(_function_nodes(tree)):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        seg = (ast.get_source_segment(source, node) or "").split("\n")[0][:70]
        for op in _ops(node):
            out.append((idx, op, line, f"{op}: {seg}"))
    return out


def _ops(node):
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BIN_SWAP:
        yield f"{SYMBOL[type(node.op)]}->{SYMBOL[BIN_SWAP[type(node.op)]]}"
    if isinstance(node, ast.Compare):
        for k, op in enumerate(node.ops):
            if type(op) in CMP_SWAP:
                yield f"cmp{k} {SYMBOL[type(op)]}->{SYMBOL[CMP_SWAP[type(op)]]}"
    if isinstance(node, ast.BoolOp):
        yield "and->or" if isinstance(node.op, ast.And) else "or->and"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not, ast.Invert)):
        yield f"drop unary {type(node.op).__name__}"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            yield f"{node.value}->{not node.value}"
        elif isinstance(node.value, (int, float)):
            yield f"{node.value!r}->{node.value + 1!r}"
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node.func, ast.Attribute) else None
        if name in CALL_SWAP:
            yield f"{name}->{CALL_SWAP[name]}"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.Raise)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        yield "statement->pass"


class _Apply(ast.NodeTransformer):
    def __init__(self, target, op):
        self.target, self.op = target, op

    def visit(self, node):
        if node is not self.target:
            return super().visit(node)
        op = self.op
        if op == "statement->pass":
            return ast.copy_location(ast.Pass(), node)
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and "->" in op and not op.startswith("cmp"):
            node.op = BIN_SWAP[type(node.op)]()
        elif op.startswith("cmp"):
            k = int(op[3:op.index(" ")])
            node.ops[k] = CMP_SWAP[type(node.ops[k])]()
        elif op in ("and->or", "or->and"):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif op.startswith("drop unary"):
            return node.operand
        elif isinstance(node, ast.Constant):
            node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                node.func.id = CALL_SWAP[node.func.id]
            else:
                node.func.attr = CALL_SWAP[node.func.attr]
        return node


def apply(source: str, index: int, op: str) -> str:
    """The source with one node replaced, every line number kept (so Numba's cache files, named by function
    and first line, still address the unchanged functions): the node's text is spliced out and the mutated
    node's text, in parentheses (expressions) and padded with newlines to the same line count, put in."""
    tree = ast.parse(source)
    node = _function_nodes(tree)[index]
    statement = isinstance(node, ast.stmt)
    repl = _Apply(node, op).visit(node)
    text = ast.unparse(repl)
    extra = "\n" * (node.end_lineno - node.lineno)
    text = text + extra if statement else "(" + text + extra + ")"
    lines = source.encode().split(b"\n")                       # col offsets are UTF-8 byte offsets
    first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
    spliced = first[:node.col_offset] + text.encode() + last[node.end_col_offset:]
    out = b"\n".join(lines[:node.lineno - 1] + [spliced] + lines[node.end_lineno:]).decode()
    assert out.count("\n") == source.count("\n"), "line count changed"
    ast.parse(out)
    return out


def in_jitted_function(source: str, index: int) -> bool:
    """Whether the node sits in a function compiled by Numba (decorated with njit/jit)."""
    tree = ast.parse(source)
    target = _function_nodes(tree)[index]
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                "jit" in ast.unparse(d) for d in fn.decorator_list):
            if any(sub is target for stmt in fn.body for sub in ast.walk(stmt)):
                return True
    return False


def restamp_caches(w: Path, module: str):
    """Point the Numba cache indexes of ``module`` at its present source file (stamp = mtime, size): used when
    a mutant changed only plain-Python code of a module that also holds jitted functions, whose cached machine
    code therefore stays right."""
    import pickle

    from numba.core.serialize import dumps
    st = os.stat(w / installed_path(module))
    for p in _cache_files(w, module):
        if p.suffix != ".nbi":
            continue
        with open(p, "rb") as f:
            version = pickle.load(f)
            _, overloads = pickle.loads(f.read())
        with open(p, "wb") as f:
            pickle.dump(version, f, protocol=-1)
            f.write(dumps(((st.st_mtime, st.st_size), overloads)))


def mutant_key(module, source, index, op, line):
    """Stable id: module, line, operator and a hash of the node's source (survives unrelated edits)."""
    tree = ast.parse(source)
    node = _function_nodes(tree)[index]
    seg = ast.get_source_segment(source, node) or ""
    h = hashlib.sha1(f"{seg}|{op}".encode()).hexdigest()[:8]
    return f"{module}:{line}:{getattr(node, 'col_offset', 0)}:{op.split(':')[0]}:{h}"


# ---- workers -----------------------------------------------------------------------------------------------
def installed_path(module: str) -> str:
    top, rest = module.split("/", 1)
    return f"{LAYOUT[top]}/{rest}" if top != "hwsim" else module


def make_worker(k: int, base: Path) -> Path:
    """A private copy of the package as installed (hwsim/, hwsim/devices/, hwsim/learning_rules/) with the
    tests; copies keep mtimes so the repository's warm Numba caches stay valid."""
    w = base / f"w{k}"
    if w.exists():
        shutil.rmtree(w)
    ignore = shutil.ignore_patterns("*.pyc")
    shutil.copytree(ROOT / "hwsim", w / "hwsim", ignore=ignore)
    shutil.copytree(ROOT / "devices", w / "hwsim/devices", ignore=ignore)
    shutil.copytree(ROOT / "learning_rules", w / "hwsim/learning_rules", ignore=ignore)
    shutil.copytree(ROOT / "tests", w / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", w / "pyproject.toml")
    return w


def _env(w: Path):
    env = dict(os.environ, PYTHONPATH=str(w), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def check_worker(w: Path):
    out = subprocess.run([sys.executable, "-c", "import hwsim.devices.kernels as k, hwsim.hardware.tile as t;"
                          "print(k.__file__); print(t.__file__)"], cwd=w, env=_env(w), capture_output=True,
                         text=True, check=True).stdout.split()
    assert all(p.startswith(str(w)) for p in out), f"worker imports from outside its copy: {out}"


def _cache_files(w: Path, module: str):
    src = w / installed_path(module)
    stem = src.stem
    return [p for p in (src.parent / "__pycache__").glob(f"{stem}.*") if p.suffix in (".nbi", ".nbc")]


def run_tests(w: Path, module: str, timeout: float, tests=None):
    t0 = time.time()
    cmd = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *(tests or TESTS[module])]
    try:
        res = subprocess.run(cmd, cwd=w, env=_env(w), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.time() - t0, ""
    tail = res.stdout[-3000:]
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", res.stdout, re.M)
    if res.returncode == 0:
        return "survived", time.time() - t0, ""
    if res.returncode == 1 and failed:
        return "killed", time.time() - t0, failed[0]
    # collection/import error (e.g. a mutant Numba cannot compile at import) or internal error
    return "killed", time.time() - t0, (failed[0] if failed else f"exit {res.returncode}: "
                                        + tail.strip().splitlines()[-1][:120] if tail.strip() else "")


def run_mutant(w: Path, module: str, source: str, pristine_caches: dict, index: int, op: str, timeout: float):
    target = w / installed_path(module)
    st = os.stat(target)
    deps = NUMBA_DEPENDENTS.get(module, [])
    try:
        mutated = apply(source, index, op)
        target.write_text(mutated)
        # a unique mtime: Python's bytecode check and Numba's cache stamp both see a new file
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9 * (1000 + index)))
        if deps and not in_jitted_function(source, index):
            restamp_caches(w, module)           # jitted code unchanged: keep its machine code
        else:
            for dep in deps:
                for p in _cache_files(w, dep):
                    p.unlink()
        return run_tests(w, module, timeout)
    finally:
        target.write_text(source)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        for dep in deps:
            for p in _cache_files(w, dep):
                p.unlink()
            for name, data in pristine_caches.get(dep, {}).items():
                (w / installed_path(dep)).parent.joinpath("__pycache__", name).write_bytes(data)


def snapshot_caches(w: Path, modules):
    return {m: {p.name: p.read_bytes() for p in _cache_files(w, m)} for m in modules}


# ---- driver ------------------------------------------------------------------------------------------------
def load_results(module):
    path = RESULTS / (module.replace("/", "__") + ".json")
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(module, data):
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (module.replace("/", "__") + ".json")
    path.write_text(json.dumps(dict(sorted(data.items(), key=lambda kv: (kv[1]["line"], kv[0]))), indent=1,
                               ensure_ascii=False) + "\n")


def baseline(w: Path, module: str, timeout: float):
    """The unmutated module must pass its tests."""
    return run_tests(w, module, timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", nargs="*", default=list(TESTS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant (a hang counts as killed)")
    ap.add_argument("--workdir", default="/tmp/hwsim-mutation")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the check that the unmutated (unparsed) "
                    "modules pass their tests")
    ap.add_argument("--report", action="store_true", help="print the scores of the recorded results and exit")
    ap.add_argument("--fresh", action="store_true", help="rerun mutants already recorded")
    ap.add_argument("--rerun-survivors", action="store_true", help="rerun recorded survivors (after adding tests)")
    ap.add_argument("--only", nargs="*", help="run only these mutant keys (or key prefixes)")
    ap.add_argument("--sample", type=float, default=1.0,
                    help="run a fixed pseudo-random fraction of each module's mutants (chosen by key hash)")
    args = ap.parse_args(argv)
    unknown = [m for m in args.modules if m not in TESTS]
    if unknown:
        ap.error(f"no test selection for {unknown}; known: {', '.join(TESTS)}")
    if args.report:
        return report(args.modules)
    todo = []
    for module in args.modules:
        source = (ROOT / module).read_text()
        done = {} if args.fresh else load_results(module)
        for index, op, line, desc in mutations(source):
            key = mutant_key(module, source, index, op, line)
            if args.only and not any(key.startswith(o) for o in args.only):
                continue
            if args.sample < 1.0 and int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 2**32 >= args.sample:
                continue
            rec = done.get(key)
            if rec and not (args.rerun_survivors and rec["status"] == "survived") and not args.only:
                continue
            todo.append((module, index, op, line, desc, key))
        if args.list:
            for m in mutations(source):
                print(module, m[2], m[3])
    if args.list:
        return 0
    print(f"{len(todo)} mutants to run in {len(args.modules)} modules, {args.jobs} workers", flush=True)
    base = Path(args.workdir)
    base.mkdir(parents=True, exist_ok=True)
    workers = [make_worker(k, base) for k in range(args.jobs)]
    for w in workers:
        check_worker(w)
    # baselines (one worker per module, in parallel) also warm the workers' caches
    for module in [] if args.no_baseline else args.modules:
        status, dt, why = baseline(workers[0], module, args.timeout * 2)
        print(f"baseline {module}: {status} in {dt:.1f}s {why}", flush=True)
        if status != "survived":
            raise SystemExit(f"the unmutated {module} fails its tests ({why}); fix that first")
    pristine = [snapshot_caches(w, list(NUMBA_DEPENDENTS)) for w in workers]
    jobs = queue.Queue()
    for item in todo:
        jobs.put(item)
    lock = threading.Lock()
    results = {m: load_results(m) for m in args.modules} if not args.fresh else {m: {} for m in args.modules}
    sources = {m: (ROOT / m).read_text() for m in args.modules}
    counter = [0]

    def work(k):
        w = workers[k]
        while True:
            try:
                module, index, op, line, desc, key = jobs.get_nowait()
            except queue.Empty:
                return
            status, dt, why = run_mutant(w, module, sources[module], pristine[k], index, op, args.timeout)
            with lock:
                counter[0] += 1
                results[module][key] = {"line": line, "mutation": desc, "status": status, "seconds": round(dt, 1),
                                        "killed_by": why}
                save_results(module, results[module])
                print(f"[{counter[0]}/{len(todo)}] {status:8s} {dt:6.1f}s {key}  {desc}  {why}", flush=True)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return report(args.modules)


def report(modules):
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    tot = {"killed": 0, "survived": 0, "timeout": 0, "equivalent": 0}
    print(f"{'module':36s} {'mutants':>7s} {'killed':>7s} {'timeout':>7s} {'surv.':>6s} {'equiv.':>6s} "
          f"{'score':>7s} {'score excl. equiv.':>18s}")
    for module in modules:
        res = load_results(module)
        if not res:
            continue
        c = {"killed": 0, "survived": 0, "timeout": 0, "equivalent": 0}
        for key, rec in res.items():
            if rec["status"] == "survived" and key in equivalent:
                c["equivalent"] += 1
            else:
                c[rec["status"]] += 1
        n = sum(c.values())
        dead = c["killed"] + c["timeout"]
        for k in tot:
            tot[k] += c[k]
        print(f"{module:36s} {n:7d} {c['killed']:7d} {c['timeout']:7d} {c['survived']:6d} {c['equivalent']:6d} "
              f"{dead / n:7.1%} {dead / max(n - c['equivalent'], 1):18.1%}")
    n = sum(tot.values())
    dead = tot["killed"] + tot["timeout"]
    if n:
        print(f"{'TOTAL':36s} {n:7d} {tot['killed']:7d} {tot['timeout']:7d} {tot['survived']:6d} "
              f"{tot['equivalent']:6d} {dead / n:7.1%} {dead / max(n - tot['equivalent'], 1):18.1%}")
    print("\nsurviving mutants (not judged equivalent):")
    for module in modules:
        for key, rec in load_results(module).items():
            if rec["status"] == "survived" and key not in equivalent:
                print(f"  {key}  {rec['mutation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
