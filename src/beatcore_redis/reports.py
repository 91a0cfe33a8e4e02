"""What workers report, on the Redis store: a log of reports per entry and the running facts.

A report is one call of the ``report`` script (one round trip): it appends the report to the
entry's log (``{prefix}:reports:<name>``, the newest :func:`beatcore.report_log.reports_kept`
kept) and, when it ends the run an occurrence is held for (``buffer_one``) and that run had
not ended before, makes the entry due at once if it is in the due index. Nothing is read and
decided in Python between a read and a write: the kit's rules apply the log where it is read
(:mod:`beatcore.report_log`): the history with each run's worker facts, and the running fact
the claim returns. The running fact of each entry (``{prefix}:running``) is written by the
ack, merged by :func:`beatcore.outcomes.running_after_ack` with the one its claim returned.

Both are kept as ``<task id>|<flags>|<JSON>`` so the scripts find a run's reports and the
fact's flags without decoding JSON: a report ``<task id>|<1: final, 0>|<JSON>``, a fact
``<task id>|<1: held, 0>|<1: ended, 0>|<JSON>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery.utils.log import get_logger

from beatcore import report_log, storekit
from beatcore.errors import EntryNotFound
from beatcore.run_values import Running, RunOutcome, RunRecord
from beatcore_redis.handle import RedisHandle

logger = get_logger("beatcore.redis")


def report_element(outcome: RunOutcome) -> str:
    """Return the log element of ``outcome``."""
    final = "1" if outcome.final else "0"
    return f"{outcome.task_id}|{final}|{report_log.report_text(outcome)}"


def fact_element(fact: Running) -> str:
    """Return the ``running`` hash value of ``fact``."""
    held = "0" if fact.held is None else "1"
    return f"{fact.task_id}|{held}|{'1' if fact.ended else '0'}|{fact.to_json()}"


def _after(element: bytes | str, bars: int) -> bytes | str:
    """The JSON of an element: what follows its first ``bars`` bars."""
    if isinstance(element, bytes):
        return element.split(b"|", bars)[-1]
    return element.split("|", bars)[-1]


def read_fact(element: bytes | str | None) -> Running | None:
    """Return the running fact of a ``running`` hash value, or None (none, or unreadable)."""
    return None if not element else Running.from_json(_after(element, 3))


def report_texts(elements: Sequence[bytes | str]) -> list[bytes | str]:
    """Return the JSON texts of log elements."""
    return [_after(element, 2) for element in elements]


def claimed_fact(name: str, element: Any, reports: Sequence[bytes | str]) -> Running | None:
    """Return the running fact a claim returns: the stored one with the reports of its run
    (those the claim script picked from the log) applied."""
    fact = read_fact(element or None)
    return report_log.running_with_reports(name, fact, report_texts(reports))


def record_outcome(handle: RedisHandle, outcome: RunOutcome, history_size: int) -> None:
    """Record ``outcome`` (see :meth:`Store.record_outcome`): one script call."""
    keys = handle.keys
    handle.calls.run_script(
        "record outcome",
        "report",
        [keys.defs, keys.running, keys.due, keys.reports_prefix],
        [
            outcome.name,
            outcome.task_id,
            "1" if outcome.final else "0",
            report_element(outcome),
            report_log.reports_kept(history_size),
            storekit.to_micros(handle.now()),
        ],
    )


def ack_running(stored: Running | None, acked: Running | None) -> tuple[str, str]:
    """Return what the ack script writes of an ack's running fact: the ``running`` value
    (``""``: leave it) and when the entry is due at once (see
    :func:`beatcore.report_log.running_to_write`)."""
    merged, due = report_log.running_to_write(stored, acked)
    return ("" if merged is None else fact_element(merged)), due


def read_history(handle: RedisHandle, name: str, limit: int | None) -> list[RunRecord]:
    """Return the run history of ``name``, newest first, with the worker facts of its log
    (see :meth:`Store.history`): one round trip. A history or log key of another Redis type
    reads as empty.

    :raises EntryNotFound: no such entry.
    """
    keys = handle.keys

    def read() -> list[Any]:
        pipe = handle.client.pipeline(transaction=False)
        pipe.hexists(keys.defs, name)
        pipe.lrange(keys.history(name), 0, -1)
        pipe.lrange(keys.reports(name), 0, -1)
        replies = list(pipe.execute(raise_on_error=False))
        if isinstance(replies[0], Exception):
            raise replies[0]  # translated by the retry policy, as any failed call
        return replies

    exists, history, reports = handle.calls.call("read history", read)
    if not exists:
        raise EntryNotFound(name)
    for key, found in ((keys.history(name), history), (keys.reports(name), reports)):
        if isinstance(found, Exception):
            logger.warning(
                "beatcore: the run history of %r is unreadable: %s (%s)", name, key, found
            )
    history = [] if isinstance(history, Exception) else history
    reports = [] if isinstance(reports, Exception) else report_texts(reports)
    return report_log.history_with_reports(name, history, reports, limit)


#: Names whose last run one script call reads (``celery beatcore list``).
LAST_RUNS_CHUNK = 1_000
#: The newest reports read with each last run: its own are among them (a start, retries,
#: an end), and an entry's whole log (up to three times ``history_size``) is not needed.
LAST_RUN_REPORTS = 32


def last_runs(handle: RedisHandle, names: Sequence[str]) -> dict[str, RunRecord]:
    """Return the newest run record of each of ``names`` that has one, with its worker facts
    (see :meth:`Store.last_runs`): one script call per :data:`LAST_RUNS_CHUNK` names, which
    replies nothing for a name without runs (most of a large schedule between its runs). A
    key of another Redis type reads as no run."""
    keys = handle.keys
    found: dict[str, RunRecord] = {}
    for start in range(0, len(names), LAST_RUNS_CHUNK):
        chunk = names[start : start + LAST_RUNS_CHUNK]
        replies = handle.calls.run_script(
            "read last runs",
            "last_runs",
            [keys.history_prefix, keys.reports_prefix],
            [LAST_RUN_REPORTS, *chunk],
        )
        for name, reply in zip(chunk, replies, strict=True):
            if not reply:
                continue
            newest, reports = reply
            runs = report_log.history_with_reports(name, [newest], report_texts(reports), 1)
            if runs:
                found[name] = runs[0]
    return found
