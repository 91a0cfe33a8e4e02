"""beatcore and RedBeat side by side on the same redis-server: ``python -m bench``.

See :mod:`bench.run` for what is measured and how.
"""
