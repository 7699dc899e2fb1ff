"""The engine under both method styles: no Luigi, no peewee.

* :mod:`astra.core.outcome` -- what one run of a batch did (:class:`~astra.core.outcome.BatchOutcome`)
  and the one failure policy (what counts as done, what a re-run retries);
* :mod:`astra.core.events` -- the events a running batch announces, and their subscribers
  (run recording for ``astra web``, :mod:`astra.run_recorder`, is one);
* :mod:`astra.core.engine` -- :class:`~astra.core.engine.BatchLedger`: the outcome counted as
  members finish, and the events announced, for both run loops.
* :mod:`astra.core.readahead` -- reader threads reading a batch's next spectra while the method
  computes;
* :mod:`astra.core.arrays` -- a batch's spectra as ``(N, npix)`` arrays for vectorised methods.

Claims (:mod:`astra.claims`, whose ``ClaimReleased`` is a Luigi task) wrap a batch's run; the
two run loops call the method (a ``@task`` generator: :mod:`astra.tasks.function_run`; a
class's ``setup()``/``process()``: :mod:`astra.tasks.batch_run`). See docs/engine.rst.
"""
