"""Building the message ``apply_async`` would send for an entry, once per definition.

:func:`build` does, with the app's own pieces (its router, ``amqp.create_task_message``, its
queues and settings), what Celery's send path does for every send, and returns the
:class:`~beatcore.task_message.TaskMessage` to stamp per occurrence; or None for what it does
not reproduce exactly, which Celery's own path then sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, signals
from celery.app.routes import MapRoute
from celery.app.task import Task
from kombu.entity import Queue

from beatcore.task_message import PLACEHOLDER_ID, TaskMessage, arguments_accepted

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
#: Headers that show a message's arguments; a user's own replace Celery's (masking secrets).
_SHOWN_ARGUMENTS = frozenset({"argsrepr", "kwargsrepr"})
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
        if not arguments_accepted(task, args, kwargs):
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
        repr_given=not _SHOWN_ARGUMENTS.isdisjoint(options.get("headers") or ()),
    )
