"""Subcommands of the ``astra`` command, one module each (see :mod:`astra.cli`)."""
