"""Sphinx configuration for the beatcore documentation."""

project = "beatcore"
author = "the beatcore team"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
