"""The message ``apply_async`` would send for an entry, built once and stamped per occurrence.

Celery's own send path (``Task.apply_async`` -> ``Celery.send_task`` -> ``amqp.send_task_message``
-> ``Producer.publish``) costs far more than the broker write it ends in, and nearly all of
that work gives the same result for every occurrence of an entry: the options merged with the
task's, the route, the headers, the serialized body. :func:`build` does it once, with the app's
own pieces (its router, ``amqp.create_task_message``, its queues and settings), and
:meth:`TaskMessage.stamp` gives the headers and properties of one occurrence: its task id, the
entry and occurrence headers, and an ``expires`` counted from now, as Celery counts it.

Only what this module reproduces exactly is built here: :func:`build` returns None for the
rest (an ``apply_async`` or ``send_task`` someone wrapped or overrode, eager mode, task protocol
1, sent events, countdown or eta, options it does not know...), and that entry is sent through
Celery's own path, as before. ``tests/core/test_task_message.py`` holds each message against
the one ``apply_async`` sends.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from celery import Celery, signals
from celery.app.routes import MapRoute
from celery.app.task import Task
from celery.utils.saferepr import saferepr
from celery.utils.time import add_seconds_to_datetime, maybe_make_aware
from kombu.entity import Queue

#: Options an entry may carry and still take this path; any other goes through Celery.
SUPPORTED_OPTIONS = frozenset(
    {
        "queue",
        "exchange",
        "exchange_type",
        "routing_key",
        "priority",
        "serializer",
        "compression",
        "delivery_mode",
        "time_limit",
        "soft_time_limit",
        "ignore_result",
        "expires",
        "shadow",
        "headers",
    }
)
#: ``send_task_message``'s own parameters; any other option becomes a message property.
_SENDER_PARAMETERS = frozenset(
    {
        "exchange",
        "routing_key",
        "queue",
        "retry",
        "retry_policy",
        "serializer",
        "delivery_mode",
        "compression",
        "declare",
        "headers",
        "exchange_type",
        "timeout",
        "confirm_timeout",
    }
)
#: Stands for the task id while the message is built (replaced in every stamp).
PLACEHOLDER_ID = "00000000-beat-core-task-000000000000"


def _unwrapped(function: Any, module_file: str) -> bool:
    """True when ``function`` is Celery's own (from ``module_file``), not a wrapper or an
    override (error trackers wrap ``apply_async``; then Celery's path must run)."""
    code = getattr(function, "__code__", None)
    return (
        code is not None
        and not hasattr(function, "__wrapped__")
        and code.co_filename.replace("\\", "/").endswith(module_file)
    )


def celery_sends(app: Celery, task: Task | None) -> bool:
    """True when sending ``task`` (None: a task the app does not know) would run Celery's
    unmodified ``apply_async`` and ``send_task``: the only case :func:`build` reproduces."""
    if task is not None and not _unwrapped(type(task).apply_async, "celery/app/task.py"):
        return False
    return _unwrapped(type(app).send_task, "celery/app/base.py")


class TaskMessage:
    """One entry's message as Celery would send it, less what differs per occurrence.

    Built by :func:`build`. ``body`` is the ``(args, kwargs, embed)`` tuple and ``publish``
    the keyword arguments of Celery's ``Producer.publish`` call, except ``headers`` and the
    properties, which :meth:`stamp` returns per occurrence.
    """

    __slots__ = (
        "_expires",
        "_headers",
        "_properties",
        "_repr_limits",
        "_timezone",
        "app",
        "body",
        "broker_envelope",
        "cacheable",
        "declare",
        "exchange",
        "name",
        "publish",
        "result_expected",
        "retry_policy",
        "routing_key",
    )

    def __init__(
        self,
        app: Celery,
        name: str,
        headers: dict[str, Any],
        properties: dict[str, Any],
        body: tuple[Any, ...],
        publish: dict[str, Any],
        *,
        expires: float | None,
        result_expected: bool,
        cacheable: bool,
    ) -> None:
        self.app = app
        #: False when a router of the app's may route by anything (a function): then the
        #: message is built for each send, never kept.
        self.cacheable = cacheable
        self.name = name
        self.body = body
        self.publish = publish
        self.exchange = publish["exchange"]
        self.routing_key = publish["routing_key"]
        self.declare = publish["declare"]
        self.retry_policy = publish["retry_policy"]
        self.result_expected = result_expected
        self._headers = headers
        self._properties = properties
        self._expires = expires
        self._timezone = app.timezone
        #: What as_task_v2 gives saferepr for argsrepr and kwargsrepr.
        self._repr_limits = (
            app.amqp.argsrepr_maxsize,
            app.amqp.kwargsrepr_maxsize,
            app.conf.task_repr_maxlevels,
        )  #: What a broker writer derived from this message for one channel, as (channel,
        #: what it derived): the writer's own; a new channel replaces it.
        self.broker_envelope: tuple[Any, Any] | None = None

    @property
    def expires_relative(self) -> bool:
        """True when the ``expires`` header counts from the send (a number of seconds)."""
        return self._expires is not None

    def stamp(
        self,
        task_id: str,
        entry_name: str,
        occurrence: str | None,
        entry_header: str,
        occurrence_header: str,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the headers and properties of one occurrence (new dicts: the signals'
        receivers may change them, as they may change Celery's)."""  # fmt: skip
        headers = self._headers.copy()
        headers["id"] = headers["root_id"] = task_id
        if occurrence is not None:
            headers[entry_header] = entry_name
            headers[occurrence_header] = occurrence
        if self._expires is not None:
            headers["expires"] = self.expires_at(self.app.now())
        properties = self._properties.copy()
        properties["correlation_id"] = task_id
        return headers, properties

    def for_arguments(self, task: Task | None, args: Any, kwargs: Any) -> TaskMessage | None:
        """Return this message with other ``args`` and ``kwargs`` (same task and options),
        or None when that takes a :func:`build` of its own (a router that is a function, a
        ``shadow_name`` of the task's own, arguments the task's signature refuses).

        Only the body and the ``argsrepr`` / ``kwargsrepr`` headers depend on the arguments
        once the route is known; called for an entry whose definition differs from another's
        by its arguments alone (one schedule per customer, say).
        """
        if not self.cacheable:
            return None
        args, kwargs = args or (), kwargs or {}
        if task is not None:
            if type(task).shadow_name is not Task.shadow_name:
                return None
            if not _arguments_accepted(task, args, kwargs):
                return None
        amqp, conf = self.app.amqp, self.app.conf
        headers = dict(self._headers)
        headers["argsrepr"] = saferepr(
            args, amqp.argsrepr_maxsize, maxlevels=conf.task_repr_maxlevels
        )
        headers["kwargsrepr"] = saferepr(
            kwargs, amqp.kwargsrepr_maxsize, maxlevels=conf.task_repr_maxlevels
        )
        other = copy.copy(self)
        other._headers = headers
        other.body = (args, kwargs, self.body[2])
        other.broker_envelope = None
        return other

    def before_publish(self, headers: dict[str, Any], properties: dict[str, Any]) -> None:
        """Send Celery's ``before_task_publish`` for one occurrence, as Celery sends it."""
        signals.before_task_publish.send(
            sender=self.name,
            body=self.body,
            exchange=self.exchange,
            routing_key=self.routing_key,
            declare=self.declare,
            headers=headers,
            properties=properties,
            retry_policy=self.retry_policy,
        )

    def after_publish(self, headers: dict[str, Any]) -> None:
        """Send Celery's ``after_task_publish`` for one occurrence, as Celery sends it."""
        signals.after_task_publish.send(
            sender=self.name,
            body=self.body,
            headers=headers,
            exchange=self.exchange,
            routing_key=self.routing_key,
        )

    def expires_at(self, now: datetime) -> str:
        """The ``expires`` header of a message sent at ``now`` (as ``as_task_v2`` makes it)."""
        assert self._expires is not None
        at = maybe_make_aware(add_seconds_to_datetime(now, self._expires), tz=self._timezone)
        return at.isoformat()  # type: ignore[no-any-return]


def build(
    app: Celery,
    task: Task | None,
    name: str,
    args: Any,
    kwargs: Any,
    options: Mapping[str, Any],
) -> TaskMessage | None:
    """Return the message Celery would send for ``task`` (``name`` when the app does not
    know it) with ``args``, ``kwargs`` and the apply_async ``options`` (headers included),
    or None when this module does not reproduce it (then Celery's own path sends it).

    Called once per distinct entry definition. Raises nothing Celery would not raise for
    the same call, and in that case returns None so that Celery raises it at the send.
    """
    conf = app.conf
    if (
        not options.keys() <= SUPPORTED_OPTIONS
        or conf.task_always_eager
        or int(conf.task_protocol) != 2
        or conf.task_send_sent_event
        or signals.task_sent.receivers
        or app.current_worker_task is not None
        or not celery_sends(app, task)
    ):
        return None
    options = dict(options)
    return _build(app, task, name, args or (), kwargs or {}, options)


def _arguments_accepted(task: Task, args: Any, kwargs: Any) -> bool:
    """Whether ``task``'s signature takes ``args`` and ``kwargs``, as Celery checks them
    before a send when the task is ``typing`` (its ``__header__``); True when it does not
    check."""
    check_arguments = getattr(task, "__header__", None) if task.typing else None
    if check_arguments is None:
        return True
    try:
        check_arguments(*args, **kwargs)
    except TypeError:
        return False
    return True


def _build(
    app: Celery, task: Task | None, name: str, args: Any, kwargs: Any, options: dict[str, Any]
) -> TaskMessage | None:
    """:func:`build` past its first checks, on a copy of the options it may change."""
    shadow = options.pop("shadow", None)
    if task is not None:
        if (
            task.__v2_compat__
            or getattr(task, "_dump_pydantic_arguments", None) is not None
            or (task.soft_time_limit and task.time_limit and task.soft_time_limit > task.time_limit)
        ):
            return None
        if not _arguments_accepted(task, args, kwargs):
            return None  # Celery raises it at the send
        shadow = shadow or task.shadow_name(args, kwargs, options)
        options = dict(task._get_exec_options(), **options)
        options.setdefault("ignore_result", task.ignore_result)
    time_limit = options.pop("time_limit", None)
    soft_time_limit = options.pop("soft_time_limit", None)
    expires = options.pop("expires", None)
    ignore_result = options.pop("ignore_result", None)
    if expires is not None and (
        isinstance(expires, bool) or not isinstance(expires, int | float) or expires < 0
    ):
        return None  # an instant, or already past: Celery computes and warns each time
    options = app.amqp.router.route(options, name, args, kwargs, task)
    if expires is not None:
        options["expiration"] = expires
    message = app.amqp.create_task_message(
        PLACEHOLDER_ID, name, args, kwargs, None, None, None, None, expires, 0, None,
        None, None, app.thread_oid, time_limit, soft_time_limit, False, None, None, shadow,
        None, ignore_result=ignore_result, replaced_task_nesting=0, **options,
    )  # fmt: skip
    headers, properties, body, _ = message
    return _routed(app, name, headers, properties, body, options, expires, not ignore_result)


def _routed(
    app: Celery,
    name: str,
    headers: dict[str, Any],
    properties: dict[str, Any],
    body: tuple[Any, ...],
    options: dict[str, Any],
    expires: float | None,
    result_expected: bool,
) -> TaskMessage | None:
    """Resolve queue, exchange, routing key, delivery mode, declarations and retry policy
    as ``amqp.send_task_message`` does, and return the message."""
    conf = app.conf
    amqp = app.amqp
    extra = {key: value for key, value in options.items() if key not in _SENDER_PARAMETERS}
    if options.get("headers"):
        headers.update(options["headers"])
    properties.update(extra)
    exchange = options.get("exchange")
    routing_key = options.get("routing_key")
    queue = options.get("queue")
    qname = queue
    if queue is None and exchange is None:
        queue = amqp.default_queue
    if queue is not None:
        if isinstance(queue, str):
            qname, queue = queue, amqp.queues[queue]
        else:
            qname = queue.name
    if not isinstance(queue, Queue | None):
        return None
    delivery_mode = options.get("delivery_mode")
    if delivery_mode is None:
        delivery_mode = getattr(getattr(queue, "exchange", None), "delivery_mode", None)
        delivery_mode = delivery_mode or conf.task_default_delivery_mode
    exchange_type = options.get("exchange_type")
    if exchange_type is None:
        exchange_type = getattr(getattr(queue, "exchange", None), "type", "direct")
    if (not exchange or not routing_key) and exchange_type == "direct":
        exchange, routing_key = "", qname
    elif exchange is None:
        if queue is None:
            return None
        exchange = queue.exchange.name or amqp.default_exchange
        routing_key = routing_key or queue.routing_key or conf.task_default_routing_key
    if queue is not None and queue.__class__ is not Queue:
        return None  # Broadcast and other queue kinds: Celery's path
    declare = [queue] if queue is not None else None
    retry_policy = dict(conf.task_publish_retry_policy)
    publish: dict[str, Any] = {
        "exchange": exchange,
        "routing_key": routing_key,
        "serializer": options.get("serializer") or conf.task_serializer,
        "compression": options.get("compression") or conf.task_compression,
        "retry": conf.task_publish_retry,
        "retry_policy": retry_policy,
        "delivery_mode": delivery_mode,
        "declare": declare,
        "timeout": None,
        "confirm_timeout": None,
    }
    return TaskMessage(
        app,
        name,
        headers,
        properties,
        body,
        publish,
        expires=expires,
        result_expected=result_expected,
        cacheable=all(isinstance(route, MapRoute) for route in amqp.router.routes),
    )
