"""The message ``apply_async`` would send for an entry, built once and stamped per occurrence.

Celery's own send path (``Task.apply_async`` -> ``Celery.send_task`` -> ``amqp.send_task_message``
-> ``Producer.publish``) costs far more than the broker write it ends in, and nearly all of
that work gives the same result for every occurrence of an entry: the options merged with the
task's, the route, the headers, the serialized body. :func:`beatcore.message_build.build` does
it once and returns a :class:`TaskMessage`, whose :meth:`~TaskMessage.stamp` gives the headers
and properties of one occurrence: its task id, the entry and occurrence headers, and an
``expires`` counted from now, as Celery counts it.

What is not reproduced exactly (an ``apply_async`` or ``send_task`` someone wrapped or
overrode, eager mode, task protocol 1, sent events, countdown or eta, options it does not
know...) is sent through Celery's own path, as before. ``tests/redis/test_message_identity.py``
holds each message against the one ``apply_async`` sends.
"""

from __future__ import annotations

import copy
import operator
from datetime import datetime
from typing import Any

from celery import Celery, signals
from celery.app.task import Task
from celery.utils.time import add_seconds_to_datetime, maybe_make_aware

from beatcore.argument_repr import argument_repr

#: Stands for the task id while the message is built (replaced in every stamp).
PLACEHOLDER_ID = "00000000-beat-core-task-000000000000"


class TaskMessage:
    """One entry's message as Celery would send it, less what differs per occurrence.

    Built by :func:`beatcore.message_build.build`. ``body`` is the ``(args, kwargs, embed)``
    tuple and ``publish`` the keyword arguments of Celery's ``Producer.publish`` call, except
    ``headers`` and the properties, which :meth:`stamp` returns per occurrence.
    """

    __slots__ = (
        "_expires",
        "_headers",
        "_properties",
        "_repr_limits",
        "_timezone",
        "app",
        "arguments_envelope",
        "base",
        "body",
        "broker_envelope",
        "cacheable",
        "declare",
        "exchange",
        "expires_relative",
        "name",
        "publish",
        "repr_given",
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
        repr_given: bool = False,
    ) -> None:
        self.app = app
        #: True when the entry's own headers set ``argsrepr`` or ``kwargsrepr`` (arguments
        #: masked in what Flower and the logs show): they are never derived from arguments.
        self.repr_given = repr_given
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
        #: True when the ``expires`` header counts from the send (a number of seconds).
        self.expires_relative = expires is not None
        self._timezone = app.timezone
        #: What as_task_v2 gives saferepr for argsrepr and kwargsrepr.
        self._repr_limits = (
            app.amqp.argsrepr_maxsize,
            app.amqp.kwargsrepr_maxsize,
            app.conf.task_repr_maxlevels,
        )  #: What a broker writer derived from this message for one channel, as (channel,
        #: what it derived): the writer's own; a new channel replaces it.
        self.broker_envelope: tuple[Any, Any] | None = None
        #: The same, for the messages made from this one by :meth:`for_arguments`.
        self.arguments_envelope: tuple[Any, Any] | None = None
        #: The message this one was made from by :meth:`for_arguments` (None: built).
        self.base: TaskMessage | None = None

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
        # Celery builds new headers per send, nested values too: a receiver that changes
        # one in place must not change every later message of the definition
        headers = copy.deepcopy(self._headers) if _receivers() else self._headers.copy()
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
        or None when that takes a :func:`~beatcore.message_build.build` of its own (a router
        that is a function, a ``shadow_name`` of the task's own, arguments the task's
        signature refuses, ``argsrepr`` or ``kwargsrepr`` headers of the entry's own).

        Only the body and the ``argsrepr`` / ``kwargsrepr`` headers depend on the arguments
        once the route is known; called for an entry whose definition differs from another's
        by its arguments alone (one schedule per customer, say).
        """
        if not self.cacheable or self.repr_given:
            return None
        args, kwargs = args or (), kwargs or {}
        if task is not None:
            if type(task).shadow_name is not Task.shadow_name:
                return None
            if not arguments_accepted(task, args, kwargs):
                return None
        args_size, kwargs_size, levels = self._repr_limits
        headers = dict(self._headers)
        headers["argsrepr"] = argument_repr(args, args_size, levels)
        headers["kwargsrepr"] = argument_repr(kwargs, kwargs_size, levels)
        other = object.__new__(TaskMessage)
        for slot, value in zip(_SLOTS, _slot_values(self), strict=True):
            setattr(other, slot, value)
        other._headers = headers
        other.body = (args, kwargs, self.body[2])
        other.broker_envelope = other.arguments_envelope = None
        other.base = self
        return other

    def argument_reprs(self) -> tuple[str, str]:
        """Return the ``argsrepr`` and ``kwargsrepr`` headers of this message."""
        return self._headers["argsrepr"], self._headers["kwargsrepr"]

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


_SLOTS = TaskMessage.__slots__
#: A message's slot values, in the order of its slots (a copy made without ``copy.copy``'s
#: reduce protocol, a tenth of a message's cost when every entry has arguments of its own).
_slot_values = operator.attrgetter(*_SLOTS)


def _receivers() -> bool:
    """True when ``before_task_publish`` or ``after_task_publish`` has receivers."""
    return bool(signals.before_task_publish.receivers or signals.after_task_publish.receivers)


def arguments_accepted(task: Task, args: Any, kwargs: Any) -> bool:
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
