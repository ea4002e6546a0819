"""`roost run`'s supervision, over real child processes: how they are stopped, and what
`roost run` exits with."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.supervisor import Signals, supervise
from tests.conftest import REPO_ROOT, wait_for

CHILD = """
import signal, sys, time
from pathlib import Path
kind, ready = sys.argv[1], Path(sys.argv[2])
terms = []
def on_term(signum, frame):
    terms.append(signum)
    if kind == "clean" or (kind == "twice" and len(terms) == 2):
        sys.exit(0)
if kind == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif kind in ("clean", "twice"):
    signal.signal(signal.SIGTERM, on_term)
ready.touch()
if kind == "quits":
    sys.exit(0)
if kind == "fails":
    sys.exit(3)
while True:
    time.sleep(0.05)
"""
"""A child of one kind: `clean` exits 0 on SIGTERM, `default` dies of it (its handler
not set, as in a process already exiting), `stubborn` ignores it, `twice` exits at the
second; `quits` exits 0 and `fails` exits 3 on their own, once ready."""


@pytest.fixture
def signals() -> Iterator[Signals]:
    """Signals as `roost run` sets them up, this process's own handlers put back after."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    wakeup = signal.set_wakeup_fd(-1)
    yield Signals()
    signal.set_wakeup_fd(wakeup)
    for number, handler in saved.items():
        signal.signal(number, handler)


HELD = """
import os, signal, sys, time
from bot.supervisor import Signals
signals = Signals()
with signals.stop._cond:  # as inside stop.wait(), between its steps
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # the handler runs here, in this very thread
print("stopped" if signals.stop.wait(5) else "not stopped", flush=True)
"""


def test_a_signal_while_the_main_thread_holds_the_stop_events_lock_still_stops_it(
    tmp_path: Path,
) -> None:
    """`roost run` once hung on a SIGTERM, its children left running: the handler set the
    stop event while the main thread, inside `stop.wait()`, held the event's own lock."""
    child = subprocess.run(
        [sys.executable, "-c", HELD],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert child.stdout.strip() == "stopped", child.stderr
    assert child.returncode == 0


def run(tmp_path: Path, signals: Signals, deadline: float = 5.0, **kinds: str) -> tuple[int, float]:
    """Supervise one child per name, of the given kind; (exit code, seconds it took)."""
    commands = {
        name: [sys.executable, "-c", CHILD, kind, str(tmp_path / name)]
        for name, kind in kinds.items()
    }
    started = time.monotonic()
    code = supervise(commands, {}, signals, deadline=deadline)
    return code, time.monotonic() - started


def stop_when_ready(tmp_path: Path, signals: Signals, *names: str, hurry: bool = False) -> None:
    """Once each named child is ready, ask to stop (as a signal would); and again."""

    def stop() -> None:
        wait_for(lambda: all((tmp_path / name).exists() for name in names), timeout=20)
        signals.stop.set()
        if hurry:
            time.sleep(0.5)
            signals.hurry.set()

    threading.Thread(target=stop, daemon=True).start()


def test_a_stop_request_stops_every_child_with_exit_0(tmp_path: Path, signals: Signals) -> None:
    stop_when_ready(tmp_path, signals, "web", "listen")

    code, seconds = run(tmp_path, signals, web="clean", listen="default")

    # The listener died of the SIGTERM itself, as a child already exiting does: clean too.
    assert code == 0
    assert seconds < 5


def test_a_child_stopped_on_its_own_stops_the_others_with_exit_0(
    tmp_path: Path, signals: Signals
) -> None:
    code, seconds = run(tmp_path, signals, worker="quits", web="clean")

    assert code == 0
    assert seconds < 5


def test_a_child_that_fails_stops_the_others_with_its_code(
    tmp_path: Path, signals: Signals
) -> None:
    code, _ = run(tmp_path, signals, worker="fails", web="clean")

    assert code == 3


def test_a_child_that_ignores_the_request_is_killed_at_the_deadline(
    tmp_path: Path, signals: Signals
) -> None:
    stop_when_ready(tmp_path, signals, "worker", "web")

    code, seconds = run(tmp_path, signals, deadline=1.0, worker="stubborn", web="clean")

    assert code == 1
    assert 1.0 <= seconds < 4


def test_a_second_signal_is_passed_on(tmp_path: Path, signals: Signals) -> None:
    stop_when_ready(tmp_path, signals, "worker", hurry=True)

    code, seconds = run(tmp_path, signals, deadline=10.0, worker="twice")

    assert code == 0
    assert seconds < 5  # the second SIGTERM, not the deadline, ended it
