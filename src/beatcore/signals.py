"""Holding back graceful-shutdown signals while a tick runs.

celery beat stops on SIGTERM/SIGINT by closing the scheduler from inside the signal handler and
raising SystemExit wherever the main thread happens to be. In the middle of a tick that means
between a claim and its ack, or inside a publish: the lease is released while the batch is
still being sent, and half-written calls fail in confusing ways. Blocking those signals for the
length of a tick makes the tick atomic with respect to a graceful stop; the signal is delivered
the moment the tick ends, and SIGKILL still stops the process at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The signals celery beat treats as "stop gracefully".
SHUTDOWN_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


@contextmanager
def shutdown_deferred() -> Iterator[None]:
    """Hold back SIGTERM and SIGINT until the block ends (main thread, POSIX only).

    Used by :meth:`beatcore.Scheduler.tick`. Elsewhere (another thread, which never runs
    Python signal handlers, or a platform without ``pthread_sigmask``) it does nothing.
    """
    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
