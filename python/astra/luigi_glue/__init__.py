"""Every Luigi internal Astra touches, in one place.

Luigi's public API is the names in ``luigi.__all__`` (and ``luigi.util``'s decorators). Astra
needs a few names and private attributes beyond it; they are used *only* in this package, which
gives the rest of Astra public names for them, and :doc:`/luigi` lists them exactly
(``tests/test_architecture.py`` keeps both true). When a new Luigi version changes one of them,
this package is the one place to change.

* :mod:`astra.luigi_glue.parameters` -- parameters: a declared default, the batchable flag, the
  config alias, the attribute name, frozen values, the value hook and the type warning;
* :mod:`astra.luigi_glue.registry` -- the task registry and its instance cache, the loaded
  configuration files, whether a ``luigi`` command line is being parsed, the display hook;
* :mod:`astra.luigi_glue.running` -- the worker-scheduler factory, task statuses, the run's
  summary, the scheduler's settings and the forked task process;
* :mod:`astra.luigi_glue.cmdline` -- the hint ``luigi --module`` gives for a missing
  ``@astra.inherits`` (it builds on the task plan, so it is imported on its own).
"""
