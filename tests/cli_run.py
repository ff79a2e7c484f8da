"""Running ``hwsim`` in-process for the input tests: exit code and output, with a bound against hangs."""
import contextlib
import io
import signal

from hwsim.apps.cli import main

LIMIT_S = 120                # a case taking longer is a hang (SIGALRM; not a timing assertion on speed)


class Hang(Exception):
    """A case that did not return within its bound."""


@contextlib.contextmanager
def bounded(seconds=LIMIT_S):
    """Fail a case that does not return (a hang), without asserting anything about speed."""
    def alarm(*_):
        raise Hang(f"no answer within {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv):
    """main(argv) in-process: (exit code, stdout, stderr); SystemExit (argparse) counts as its code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), bounded():
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()
