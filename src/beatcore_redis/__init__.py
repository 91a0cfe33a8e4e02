"""beatcore's Redis store: ``redis://``, ``rediss://``, ``redis+sentinel://`` and Cluster URLs.

Installed with the ``beatcore[redis]`` extra and registered through the ``beatcore`` entry-point
group (:mod:`beatcore_redis.plugin`); the core never imports this package.
"""
