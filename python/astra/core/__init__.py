"""The engine under both method styles: no Luigi, no peewee.

* :mod:`astra.core.outcome` -- what one run of a batch did (:class:`~astra.core.outcome.BatchOutcome`)
  and the one failure policy (what counts as done, what a re-run retries);
* :mod:`astra.core.events` -- the events a running batch announces, and their subscribers
  (run recording for ``astra web``, :mod:`astra.run_recorder`, is one);
* :mod:`astra.core.engine` -- :class:`~astra.core.engine.BatchLedger`: the outcome counted as
  members finish, and the events announced;
* :mod:`astra.core.loop` -- the one run loop of both styles: the method's generator over a feed
  of spectra, one result or one failure each, restarts after an exception, per-spectrum retries;
* :mod:`astra.core.sinks` -- the one sink protocol (rows, files or nothing);
* :mod:`astra.core.readahead` -- reader threads reading a batch's next spectra while the method
  computes;
* :mod:`astra.core.arrays` -- a batch's spectra as ``(N, npix)`` arrays for vectorised methods.

Claims (:mod:`astra.claims`, whose ``ClaimReleased`` is a Luigi task) wrap a batch's run. Each
method style is a contract onto the one loop: a ``@task`` generator
(:mod:`astra.tasks.function_run`, the native contract) and a class's ``setup()``/``process()``
(:mod:`astra.tasks.class_method`, run by :mod:`astra.tasks.batch_run`). See docs/engine.rst.
"""
