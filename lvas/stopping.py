"""Stopping a command on Ctrl-C or SIGTERM, also when Python drops the signal's exception.

Used by the ``lvas`` command and by ``deployments/serve.py``: both hold a local Prefect server or
Dask cluster that must be stopped on the way out.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's time limit), raised in the main thread like Ctrl-C's
    KeyboardInterrupt, so that the run stops the same way: its Prefect server and Dask cluster are
    stopped on the way out. Python's default for SIGTERM ends the process at once, and the embedded
    server it had started lived on."""


def _stop(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM under :func:`exit_status`: the first one stops the run; the ones after it (a
    signal sent again, a second Ctrl-C while the server stops) are ignored, so that nothing cuts the
    stopping short or escapes the command's own handling of the first."""
    _arm(False)
    _raise_stop(signum)


def _raise_stop(signum: int) -> None:
    """Raise the stop of ``signum``, noting when (:func:`stops_are_not_swallowed` watches it)."""
    _RAISED[:] = [(signum, time.monotonic())]
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _ignore(signum: int, frame: object) -> None:
    """A stop signal after the one that stops the run (a Python handler: children do not inherit it).
    After IGNORED of them the next raises again: a person pressing Ctrl-C over and over wants out,
    even if something caught the first. One sent again by :func:`stops_are_not_swallowed` raises."""
    if signum in _RESENT:
        _RESENT.clear()
        _raise_stop(signum)
    _IGNORED.append(signum)
    if len(_IGNORED) > IGNORED:
        _IGNORED.clear()
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


IGNORED = 2  # stop signals ignored after the one that stops the run
_IGNORED: list[int] = []
_RAISED: list[tuple[int, float]] = []  # the stop signal :func:`_stop` raised, and when
_RESENT: list[int] = []  # a stop signal sent again because its exception was caught on the way
GRACE_S = 3.0  # a stop whose exception has not left a flow run this long after it was raised was caught


def _arm(raising: bool) -> None:
    """Ctrl-C and SIGTERM raise (:func:`_stop`), or are ignored (:func:`_ignore`), counted afresh."""
    _IGNORED.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop if raising else _ignore)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _deliver_again_if_swallowed(previous: Callable[[Any], object], unraisable: Any) -> None:
    """``sys.unraisablehook``: Python drops an exception raised where it cannot propagate (a garbage
    collector callback such as Dask's GC diagnostics, a ``__del__``). A signal's KeyboardInterrupt or
    Terminated raised there would be lost and the run would go on: the signal
    is sent again, shortly, to be raised where the main thread is then. (Sent at once, its handler
    would run inside this hook and be dropped again.) Anything else goes to ``previous``."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        sig = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        if signal.getsignal(sig) is _ignore and threading.current_thread() is threading.main_thread():
            _arm(True)  # the dropped stop stopped nothing: the one sent again must
        again = threading.Timer(0.05, os.kill, args=(os.getpid(), sig))
        again.daemon = True
        again.start()
        _REDELIVERIES.append(again)
        return
    previous(unraisable)


# signals sent again and not yet delivered; cancelled when the command ends (its interrupt handled)
_REDELIVERIES: list[threading.Timer] = []


@contextlib.contextmanager
def stop_signals_stop_the_run() -> Iterator[None]:
    """For the block's duration: SIGTERM raises :class:`Terminated`, and a Ctrl-C or SIGTERM whose
    exception Python dropped is delivered again (:func:`_deliver_again_if_swallowed`). Outside the
    main thread, where no handler may be set, it does nothing."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    owned = signal.getsignal(signal.SIGTERM) in (_stop, _ignore)  # exit_status's handlers: kept as they are
    before = None if owned else signal.signal(signal.SIGTERM, _terminate)
    hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_deliver_again_if_swallowed, hook)
    try:
        yield
    finally:
        for timer in _REDELIVERIES:
            timer.cancel()
        _REDELIVERIES.clear()
        if not owned:
            signal.signal(signal.SIGTERM, before)
        sys.unraisablehook = hook


@contextlib.contextmanager
def stops_are_not_swallowed(grace_s: float = GRACE_S) -> Iterator[None]:
    """A block that a stop signal must end (a flow run): code inside it may catch the signal's
    exception and go on (Prefect's engine keeps what a call run in the calling thread raised, and a
    run went on to its end after a Ctrl-C). If the exception has not left the block ``grace_s``
    after it was raised, the signal is sent again and raised this time; if the block ends without
    it, it is raised as the block ends. Under :func:`exit_status` only (its handlers), in the main
    thread; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not _stop:
        yield
        return
    _RAISED.clear()
    left = threading.Event()
    deciding = threading.Lock()  # the watcher sends again only while the block has not been left

    def watch() -> None:
        while not left.wait(0.1):
            with deciding:
                raised = list(_RAISED)  # a copy: the block may clear it as its exception leaves
                if not left.is_set() and raised and time.monotonic() - raised[0][1] >= grace_s:
                    _RAISED.clear()
                    _RESENT[:] = [raised[0][0]]
                    os.kill(os.getpid(), raised[0][0])

    watcher = threading.Thread(target=watch, name="lvas-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    except BaseException:
        # the stop left the block after all: one sent again just before, still to be handled, is moot
        with deciding:
            left.set()
            _RAISED.clear()
            _RESENT.clear()
        raise
    finally:
        left.set()
        watcher.join()
    if _RAISED:  # the block ended as if no stop had come: the stop is raised here
        _raise_stop(_RAISED.pop()[0])


def exit_status(run: Callable[[], int]) -> int:
    """Run a command as its process's program and return its exit status: 130 (Ctrl-C) or 143
    (SIGTERM) also when more stop signals follow the first (a signal sent again and still in
    flight, a second Ctrl-C while the server stops): the first raises, the later ones are ignored
    (:func:`_stop`), so that they neither cut the command's stopping short nor kill the process
    after it. Only for a process's own program: it leaves the signals ignored."""
    main = threading.current_thread() is threading.main_thread()
    if main:  # the first Ctrl-C or SIGTERM raises, the later ones are ignored (_stop)
        _arm(True)
    try:
        code = run()
        if main:
            _arm(False)
    except KeyboardInterrupt as exc:  # raised by _stop, which ignores the stop signals from then on
        code = 143 if isinstance(exc, Terminated) else 130
    if main:
        # a stop sent again and still pending is handled inside signal.signal() (it checks for pending
        # signals first): with nothing marked as sent again, _ignore lets it pass
        _RESENT.clear()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return code
