"""Sphinx configuration for Astra's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "python")))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "_ext")))

import astra  # noqa: E402

project = "Astra"
author = "SDSS Astra developers"
copyright = "2026, SDSS Astra developers"
version = release = astra.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "sphinx.ext.intersphinx", "astra_docs"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = False
intersphinx_mapping = {}
nitpicky = False
exclude_patterns = ["_build", "_ext"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]
