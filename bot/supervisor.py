"""Stopping Roost's processes cleanly: `roost run` over its children, and the signals each
process answers.

SIGTERM (or SIGINT) asks a process to stop: it finishes what it has in hand and exits
0 within STOP_DEADLINE. `roost run` passes the request on to web, worker and listener,
passes a second signal on too (RQ's cold shutdown: the job in hand is stopped), and
kills whatever still runs at the deadline; the embedded Redis always stops with it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType

logger = logging.getLogger(__name__)

STOP_DEADLINE = 7.0
"""Seconds from the first signal until `roost run` kills what still runs: with the
embedded Redis's own stop after it, inside the ten seconds container platforms give
between SIGTERM and SIGKILL."""

LISTENER_DEADLINE = 5.0
"""Seconds the listener may take to stop. Past them it exits at once: its cursors move
only after what they cover is stored, so a read cut short is read again."""

POLL_SECONDS = 0.1
"""How often `roost run` looks at its children."""


class Signals:
    """SIGTERM and SIGINT, counted: the first asks to stop, a second to hurry."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.hurry = threading.Event()
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            logger.info("stopping now (second signal %s)", signum)
            self.hurry.set()
        else:
            logger.info("stopping (signal %s)", signum)
            self.stop.set()


def exit_at_deadline(stop: threading.Event, seconds: float, what: str) -> None:
    """Once `stop` is set, give the process `seconds` to return, then end it."""

    def watch() -> None:
        stop.wait()
        time.sleep(seconds)
        logger.warning("%s did not stop within %.0f s; exiting now", what, seconds)
        logging.shutdown()
        os._exit(0)

    threading.Thread(target=watch, name="deadline", daemon=True).start()


def supervise(
    commands: Mapping[str, Sequence[str]], env: Mapping[str, str], signals: Signals
) -> int:
    """Run each command as a child until a signal or a child's exit, then stop them all.

    Returns 0 when a signal stopped every child cleanly, else 1 (or the exit code of
    the child that ended first on its own).
    """
    children = {
        name: subprocess.Popen(list(command), env=dict(env)) for name, command in commands.items()
    }
    code = 0
    while not signals.stop.wait(POLL_SECONDS):
        ended = [
            (name, child.returncode) for name, child in children.items() if child.poll() is not None
        ]
        if ended:
            name, returncode = ended[0]
            logger.error("roost %s exited (%s); stopping the others", name, returncode)
            code = returncode or 1
            break
    _stop(children, signals)
    if signals.stop.is_set() and code == 0:
        unclean = {
            name: child.returncode for name, child in children.items() if child.returncode != 0
        }
        if unclean:
            logger.error("stopped, but not cleanly: %s", unclean)
            code = 1
    return code


def _stop(children: Mapping[str, subprocess.Popen[bytes]], signals: Signals) -> None:
    """SIGTERM to each child still running, again on a second signal, SIGKILL at the
    deadline; returns once every child has ended."""
    deadline = time.monotonic() + STOP_DEADLINE
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    hurried = False
    while time.monotonic() < deadline and any(c.poll() is None for c in children.values()):
        if signals.hurry.is_set() and not hurried:
            hurried = True
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
        time.sleep(POLL_SECONDS / 2)
    for name, child in children.items():
        if child.poll() is None:
            logger.error("roost %s did not stop within %.0f s; killing it", name, STOP_DEADLINE)
            child.kill()
            child.wait()
