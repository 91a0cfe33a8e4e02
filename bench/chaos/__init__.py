"""The reliability harness: beatcore under faults, every scheduled occurrence accounted for.

``python -m bench.chaos`` runs the scenarios of :mod:`bench.chaos.scenarios` against real
``redis-server``, ``celery beat`` and ``celery worker`` processes on 127.0.0.1 and prints one
table (see :mod:`bench.chaos.report`).
"""
