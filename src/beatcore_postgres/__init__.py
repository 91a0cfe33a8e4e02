"""The PostgreSQL store of beatcore: ``postgresql://`` and ``postgres://`` URLs.

See docs/postgresql.rst.
"""
