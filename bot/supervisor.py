"""Stopping Roost's processes cleanly: `roost run` over its children, and the signals each
process answers.

SIGTERM (or SIGINT) asks a process to stop: it finishes what it has in hand and exits
0 within STOP_DEADLINE. `roost run` passes the request on to web, worker and listener,
passes a second signal on too (RQ's cold shutdown: the job in hand is stopped; RQ heeds
it a second or more after the first, since a terminal's Ctrl-C reaches every process of
the group as well), and kills whatever still runs at the deadline; the embedded Redis
always stops with it. A child stopped on its own (a signal sent to it alone) stops the
others too: `roost run` is one unit, and exits 0 when every part stopped cleanly.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import IO

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
    """SIGTERM and SIGINT, counted: the first asks to stop, a second to hurry.

    They are heeded in a thread of their own, never in the handler. A handler runs in the
    main thread between two of its steps, perhaps inside `stop.wait()` while it holds the
    event's own lock; `stop.set()` there waits for that lock for ever. `roost run` once
    hung so on a SIGTERM, its children left running. The handler does nothing: Python's
    wakeup fd carries each signal's number to the thread.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.hurry = threading.Event()
        self._received = 0
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for number in HEEDED:
            signal.signal(number, _noted)
        threading.Thread(target=self._heed, name="signals", daemon=True).start()

    def _heed(self) -> None:
        while True:
            try:
                received = self._reader.recv(64)
            except OSError:
                return
            if not received:
                return  # the socket is closed: nothing more will come
            for number in received:
                if number in HEEDED:
                    self._take(number)

    def _take(self, number: int) -> None:
        self._received += 1
        if self._received == 1:
            logger.info("stopping (signal %s)", number)
        else:
            logger.info("stopping now (second signal %s)", number)
            self.hurry.set()
        self.stop.set()


HEEDED = (signal.SIGTERM, signal.SIGINT)


def _noted(signum: int, frame: FrameType | None) -> None:
    """The handler: nothing here (see Signals); the wakeup fd has the signal already."""


def exit_at_deadline(stop: threading.Event, seconds: float, what: str) -> None:
    """Once `stop` is set, give the process `seconds` to return, then end it."""

    def watch() -> None:
        stop.wait()
        time.sleep(seconds)
        logger.warning("%s did not stop within %.0f s; exiting now", what, seconds)
        logging.shutdown()
        os._exit(0)

    threading.Thread(target=watch, name="deadline", daemon=True).start()


STOPPED_CLEANLY = (0, -signal.SIGTERM, -signal.SIGINT)
"""Exit codes of a child that stopped because it was asked to: a child already exiting
when the request came dies of the signal itself, its handlers gone."""


def supervise(
    commands: Mapping[str, Sequence[str]],
    env: Mapping[str, str],
    signals: Signals,
    *,
    deadline: float = STOP_DEADLINE,
    output: IO[bytes] | None = None,
) -> int:
    """Run each command as a child until a signal or a child's exit, then stop them all
    (killing what still runs `deadline` seconds after the stop began). The children write
    to `output` if given (their standard output and errors both), else to this process's.

    Returns 0 when every child stopped cleanly, after a signal or after one of them was
    stopped on its own; else the exit code of the child that failed first, or 1.
    """
    children = {
        name: subprocess.Popen(
            list(command),
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
        )
        for name, command in commands.items()
    }
    code = 0
    while not signals.stop.wait(POLL_SECONDS):
        ended = [
            (name, child.returncode) for name, child in children.items() if child.poll() is not None
        ]
        if ended:
            name, returncode = ended[0]
            if returncode in STOPPED_CLEANLY:
                logger.info("roost %s stopped (%s); stopping the others", name, returncode)
            else:
                logger.error("roost %s exited (%s); stopping the others", name, returncode)
                code = returncode if returncode > 0 else 1
            break
    _stop(children, signals, deadline)
    if code == 0:
        unclean = {
            name: child.returncode
            for name, child in children.items()
            if child.returncode not in STOPPED_CLEANLY
        }
        if unclean:
            logger.error("stopped, but not cleanly: %s", unclean)
            code = 1
    return code


def _stop(
    children: Mapping[str, subprocess.Popen[bytes]], signals: Signals, seconds: float
) -> None:
    """SIGTERM to each child still running, again on a second signal, SIGKILL `seconds`
    after the first; returns once every child has ended."""
    deadline = time.monotonic() + seconds
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
            logger.error("roost %s did not stop within %.0f s; killing it", name, seconds)
            child.kill()
            child.wait()
