"""Running a task's ``run()`` only while its batch is claimed (:func:`claimed_run`, :func:`claim_runs`)."""

import contextlib
import functools
import inspect
import logging
import os
import types

from luigi.task import flatten

from astra.claims.holding import Claim, ClaimReleased, is_held
from astra.claims.protocol import claims_enabled
from astra.claims.stores import store_for
from astra.core.outcome import note_incomplete
from astra.targets import remove_dead_temporaries

__all__ = ["claimed_run", "claim_runs"]

logger = logging.getLogger("astra")


def _output_directories(task):
    directories = set()
    for member in task.get_batch_tasks():
        for target in flatten(member.output()):
            path = getattr(target, "path", None)
            if path:
                directories.add(os.path.dirname(os.path.abspath(path)))
    failures = getattr(task, "failures_directory", None)
    if failures is not None:
        directories.add(failures())
    return directories


def _clean_after(task, stale):
    logger.info("%s: took over the stale claim of %s", task.task_id, stale.describe())
    removed = 0
    for directory in sorted(_output_directories(task)):
        removed += len(remove_dead_temporaries(directory))
    return removed


def _wait_then_run(task, claim):
    logger.info("%s is claimed by %s; running the other batches first", task.task_id, claim.other.describe())
    task.claimed_by = getattr(task, "claimed_by", []) + [claim.other.owner.describe()]
    note_incomplete(task)  # what the claimant completes meanwhile is counted as done by it
    yield ClaimReleased(store=claim.store.spec, key=claim.key, token=claim.other.token)
    result = task.run()  # claim it now, check again what is left, run that
    if isinstance(result, types.GeneratorType):
        yield from result


def _held_while(claim, generator):
    with contextlib.closing(generator):
        try:
            yield from generator
        finally:
            claim.release()


def claimed_run(run):
    """Wrap a task's ``run`` so that it runs only while its batch is claimed (see the module).

    :param run: a ``run(self)`` method.
    :returns: the wrapped method (marked, so it is not wrapped twice).
    """

    @functools.wraps(run)
    def wrapper(self):
        if not claims_enabled():
            return run(self)
        store = store_for(self)
        key = self.claim_key() if hasattr(self, "claim_key") else self.identity_hash
        if is_held(store, key):  # a nested run() of a task this process holds
            return run(self)
        claim = Claim(store, key, self.task_id)
        if not claim.acquire():
            return _wait_then_run(self, claim)
        try:
            if claim.other is not None and not claim.other.released:
                _clean_after(self, claim.other)
            # run() asks which members are incomplete now, under the claim (never an answer
            # kept from before it): what a dead or finished claimant wrote is not done again.
            result = run(self)
        except BaseException:
            claim.release()
            raise
        if isinstance(result, types.GeneratorType):
            return _held_while(claim, result)
        claim.release()
        return result

    wrapper._astra_claimed = True
    return wrapper


def claim_runs(cls):
    """Make ``cls.run`` a :func:`claimed_run` (called for every task class by ``BaseTask``).

    :param cls: a task class.
    """
    run = inspect.getattr_static(cls, "run", None)
    # Only plain methods: a ``run`` property (data-model files: None unless they download)
    # is left alone.
    if inspect.isfunction(run) and not getattr(run, "_astra_claimed", False):
        cls.run = claimed_run(run)
