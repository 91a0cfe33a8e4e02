"""How every store call reaches Redis: under the retry policy, scripts by SHA, and (Sentinel)
with a WAIT for the replicas in the same round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from celery.utils.log import get_logger
from redis.exceptions import ConnectionError, NoScriptError, TimeoutError

from beatcore.errors import StoreError
from beatcore_redis.connection import RetryingCaller
from beatcore_redis.held import Outstanding
from beatcore_redis.scripts import PreparedCall, Scripts

logger = get_logger("beatcore.redis")
T = TypeVar("T")
_BROKEN = (ConnectionError, TimeoutError, OSError)


class RedisCalls:
    """One client's round trips: plain calls, pipelines and script calls, all retried.

    :param client: the redis-py client.
    :param retry: the retry policy (it logs outages once).
    :param wait_replicas: after each script call, WAIT until this many replicas have its
        writes (0: do not wait). Fewer acknowledgements make it ask Sentinel whether the
        master changed: if so the call is retried on the new master, so a leader never keeps
        claiming and acking on a demoted master whose writes the promoted replica never sees.
    :param wait_timeout: seconds WAIT waits for the replicas.
    :param diagnose_wrongtype: describes which keys hold a wrong type, for the error of a
        call that Redis answers with WRONGTYPE.
    """

    def __init__(
        self,
        client: Any,
        retry: RetryingCaller,
        *,
        wait_replicas: int = 0,
        wait_timeout: float = 0.5,
        diagnose_wrongtype: Callable[[], str] | None = None,
    ) -> None:
        self.client = client
        self.retry = retry
        self.diagnose_wrongtype = diagnose_wrongtype
        self.scripts = Scripts(client)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = max(1, round(wait_timeout * 1000))
        self._replicas_short = False

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """Run one round trip through the client's pool under the retry policy (see
        :class:`RetryingCaller`); the script calls' held connection goes back to the pool
        first, so this call takes it rather than opening another."""
        self.scripts.held.lend()
        return self.retry.call(what, operation, diagnose_wrongtype=self.diagnose_wrongtype)

    def pipeline(self, what: str, build: Callable[[Any], object]) -> list[Any]:
        """Run the commands ``build`` queues on a pipeline, in one round trip (no MULTI)."""

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            build(pipe)
            return list(pipe.execute())

        return self.call(what, run)

    def run_script(self, what: str, name: str, keys: list[str], args: list[Any]) -> Any:
        """Call a script by SHA under the retry policy (with WAIT when replicas are awaited)."""
        if not self.wait_replicas:
            return self.retry.call(
                what,
                lambda: self.scripts.run(name, keys, args),
                diagnose_wrongtype=self.diagnose_wrongtype,
            )
        return self.call(what, lambda: self._run_replicated(name, keys, args))

    def run_prepared(self, what: str, call: PreparedCall, args: Sequence[str | bytes]) -> Any:
        """Call ``call``'s script with ``args`` after its fixed ones: :meth:`run_script`, the
        command packed by ``call`` (see :meth:`Scripts.prepared`)."""
        if not self.wait_replicas:
            return self.retry.call(
                what,
                lambda: self.scripts.run_prepared(call, args),
                diagnose_wrongtype=self.diagnose_wrongtype,
            )
        return self.run_script(what, call.name, call.keys, [*call.fixed, *args])

    def start_script(self, what: str, name: str, keys: list[str], args: list[Any]) -> ScriptReply:
        """Send a call of script ``name`` without waiting for its reply, on the held
        connection; return its :class:`ScriptReply`, to read (``result()``) after other
        work. Where it cannot be sent so (the held connection is busy or not used, replicas
        are awaited), it runs at once as :meth:`run_script`; its reply, or its error, is
        then given by ``result()`` all the same.

        Another thread's calls go through the pool until the reply is read; the next call
        this thread sends on the held connection reads it first (see :mod:`.held`).
        """
        call = (what, name, keys, args)
        sent = None if self.wait_replicas else self.scripts.send(name, keys, args)
        if sent is not None:
            return ScriptReply(self, call, sent, None)
        try:
            return ScriptReply(self, call, None, self.run_script(what, name, keys, args))
        except Exception as exc:  # raised by result(), as for a call sent
            return ScriptReply(self, call, None, None, exc)

    def run_scripts(
        self, what: str, name: str, keys: list[str], arg_lists: Sequence[list[Any]]
    ) -> list[Any]:
        """Call script ``name`` once per argument list, all in one pipeline (one round trip,
        plus a SCRIPT LOAD and a resend when the server answers NOSCRIPT); return the replies.

        The calls run one after the other but not as one transaction: each is atomic alone.
        """
        if len(arg_lists) == 1 and not self.wait_replicas:
            return [self.run_script(what, name, keys, arg_lists[0])]
        return self.call(what, lambda: self._run_pipelined(name, keys, arg_lists))

    def _run_pipelined(
        self, name: str, keys: list[str], arg_lists: Sequence[list[Any]]
    ) -> list[Any]:
        """The calls in one pipeline; after a NOSCRIPT answer (a flushed script cache) the
        script is loaded and only the calls so answered are sent again: they did not run,
        and the others must not run twice (not every script compares before it writes)."""
        replies: list[Any] = [None] * len(arg_lists)
        pending = list(range(len(arg_lists)))
        for _ in range(2):
            answers = self._send_pipelined(name, keys, [arg_lists[index] for index in pending])
            missing: list[int] = []
            for index, answer in zip(pending, answers, strict=True):
                if isinstance(answer, NoScriptError):
                    missing.append(index)
                elif isinstance(answer, Exception):
                    raise answer
                else:
                    replies[index] = answer
            if not missing:
                return replies
            self.scripts.load(name)
            pending = missing
        raise StoreError(f"Redis at {self.retry.url} keeps answering NOSCRIPT for script {name!r}")

    def _send_pipelined(
        self, name: str, keys: list[str], arg_lists: Sequence[list[Any]]
    ) -> list[Any]:
        """Send the calls in one round trip and return their answers (errors as exceptions):
        on the held connection when it can take them, else in a redis-py pipeline (with
        the WAIT for the replicas, whose answer is checked here)."""
        if not self.wait_replicas:
            answers = self.scripts.run_many(name, keys, arg_lists)
            if answers is not None:
                return answers
        pipe = self.client.pipeline(transaction=False)
        for args in arg_lists:
            self.scripts.queue(pipe, name, keys, args)
        if self.wait_replicas:
            pipe.wait(self.wait_replicas, self.wait_timeout_ms)
        answers = list(pipe.execute(raise_on_error=False))
        if self.wait_replicas:
            self._check_replicas(answers.pop())
        return answers

    def _check_replicas(self, acked: Any) -> None:
        """Act on WAIT's answer: too few replicas check for a failover (see
        :meth:`_replicas_missing`); enough again after too few is logged once."""
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.wait_replicas:
            self._replicas_missing(int(acked))
        elif self._replicas_short:
            self._replicas_short = False
            logger.warning("beatcore: replicas of %s acknowledge writes again", self.retry.url)

    def _run_replicated(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA and WAIT in one round trip; on too few replicas, check for a failover."""
        for _ in range(2):
            pipe = self.client.pipeline(transaction=False)
            self.scripts.queue(pipe, name, keys, args)
            pipe.wait(self.wait_replicas, self.wait_timeout_ms)
            try:
                reply, acked = pipe.execute()
            except NoScriptError:
                self.scripts.load(name)
                continue
            self._check_replicas(acked)
            return reply
        raise StoreError(f"Redis at {self.retry.url} keeps answering NOSCRIPT for script {name!r}")

    def _replicas_missing(self, acked: int) -> None:
        """Raise a retried ConnectionError if Sentinel names a new master; else log once."""
        proxy = getattr(getattr(self.client, "connection_pool", None), "proxy", None)
        if proxy is not None:
            before = proxy.master_address
            current = proxy.get_master_address()  # drops idle connections on a change
            if before is not None and current != before:
                raise ConnectionError(
                    f"Sentinel moved the master of {self.retry.url} from {before} to "
                    f"{current}; retrying on the new master"
                )
        if not self._replicas_short:
            self._replicas_short = True
            logger.warning(
                "beatcore: only %d of %d replicas of %s acknowledged a write within %d ms; "
                "going on without them (set wait_replicas in beatcore_store_options to the "
                "number of replicas you run)",
                acked,
                self.wait_replicas,
                self.retry.url,
                self.wait_timeout_ms,
            )


class ScriptReply:
    """The reply of a script call :meth:`RedisCalls.start_script` sent; read it once with
    :meth:`result`, or :meth:`abandon` it."""

    def __init__(
        self,
        calls: RedisCalls,
        call: tuple[str, str, list[str], list[Any]],
        sent: Outstanding | None,
        reply: Any,
        error: Exception | None = None,
    ) -> None:
        self._calls = calls
        self._call = call
        self._sent = sent
        self._reply = reply
        self._error = error

    def result(self) -> Any:
        """Return the script's reply, waiting for it if need be: as :meth:`RedisCalls.run_script`
        would have returned it. A failure is handled as that call's first attempt: NOSCRIPT
        loads the script and calls it again, a broken connection calls it again at once on a
        fresh one, other errors go through the retry policy (their translation included).

        :raises StoreError: a permanent error (see :meth:`RetryingCaller.call`).
        :raises StoreUnavailable: still unreachable after every attempt.
        """
        sent, self._sent = self._sent, None
        if sent is None:
            if self._error is not None:
                raise self._error
            return self._reply
        what, name, keys, args = self._call
        calls = self._calls
        try:
            return sent.read()
        except NoScriptError:
            pass  # sent again below, where the script is loaded under the retry policy
        except _BROKEN:
            pass  # the connection was given back: the call is sent again (acks may repeat)
        except Exception as exc:
            first = [exc]

            def again() -> Any:
                if first:
                    raise first.pop()
                return calls.scripts.run(name, keys, args)

            return calls.retry.call(what, again, diagnose_wrongtype=calls.diagnose_wrongtype)
        return calls.run_script(what, name, keys, args)

    def abandon(self) -> None:
        """Drop the reply unread, if it was not read (see :meth:`Outstanding.abandon`)."""
        sent, self._sent = self._sent, None
        if sent is not None:
            sent.abandon()
