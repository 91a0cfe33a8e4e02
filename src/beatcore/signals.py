"""Holding back graceful-shutdown signals while a tick runs.

celery beat stops on SIGTERM/SIGINT by closing the scheduler from inside the signal handler and
raising SystemExit wherever the main thread happens to be. In the middle of a tick that means
between a claim and its ack, or inside a publish: the lease is released while the batch is
still being sent, and half-written calls fail in confusing ways. Deferring those signals for
the length of a tick makes the tick atomic with respect to a graceful stop; the signal is acted
on the moment the tick ends, and SIGKILL still stops the process at once.

The handlers are swapped rather than the signals blocked: a process-directed signal blocked in
the main thread is delivered through any other thread that does not block it, and Python then
runs the handler in the main thread all the same.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals celery beat treats as "stop gracefully".
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def shutdown_deferred() -> Iterator[None]:
    """Defer SIGTERM and SIGINT until the block ends, then act on them as usual.

    Used by :meth:`beatcore.Scheduler.tick`. Only the main thread can change signal
    handlers (and only it runs them), so elsewhere this does nothing. Ignored signals stay
    ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {}
    for sig in SHUTDOWN_SIGNALS:
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):
            previous[sig] = signal.signal(sig, defer)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)
