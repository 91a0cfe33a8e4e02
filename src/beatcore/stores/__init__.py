"""Stores shipped with the core: ``memory://`` (reference) and ``sqlite:///`` (embedded)."""
