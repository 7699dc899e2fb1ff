"""The engine under both method styles: no Luigi, no peewee.

* :mod:`astra.core.outcome` -- what one run of a batch did (:class:`~astra.core.outcome.BatchOutcome`)
  and the one failure policy (what counts as done, what a re-run retries);
* :mod:`astra.core.events` -- the events a running batch announces, and their subscribers
  (run recording for ``astra web`` is one);
* :mod:`astra.core.engine` -- the run loop: members -> input check -> setup once -> one result
  or one failure per spectrum -> sink -> outcome;
* :mod:`astra.core.claims` -- the claims protocol concurrent runs share work by;
* :mod:`astra.core.readahead` -- reader threads reading a batch's next spectra while the method
  computes;
* :mod:`astra.core.arrays` -- a batch's spectra as ``(N, npix)`` arrays for vectorised methods.

A ``@task`` generator is the engine's native shape; a class's ``setup()``/``process()`` is
adapted onto it (:func:`astra.core.engine.method_of_steps`). See docs/engine.rst.
"""
