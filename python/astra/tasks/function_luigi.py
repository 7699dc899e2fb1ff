"""The Luigi task of a ``@task`` method: :class:`FunctionTask`, one class generated per method.

The generated class is named after the function and registered with Luigi, so::

    luigi --module mymethods snr --spectrum-pk 7 --local-scheduler
    luigi --module mymethods snr --spectrum-model ApogeeVisitSpectrum --spectrum-pk 7 --min-good-pixels 50

run it. Its parameters are

* ``spectrum_model`` -- the catalogue model to read (default: the first the method reads);
* ``spectrum_pk`` -- the spectrum's catalogue key; a batch parameter (``batch_method=tuple``),
  so Luigi's scheduler and :func:`astra.build` merge spectra into batches;
* the method's own arguments, each a Luigi parameter of the type its hint gives
  (``int`` -> ``IntParameter``, ...), with the function's default.

A batch reads its spectra in one query, runs the method over them once (its setup once per
batch) and writes the results where the configuration says. It is complete when every spectrum
has an up-to-date result (one query; see :mod:`astra.tasks.function_query`).
"""

import logging

import luigi

import astra.config
from astra.parameters import BoolParameter, IntParameter, Parameter
from astra.database.connection import get_database, is_sqlite
from astra.tasks.base import BaseTask
from astra.tasks.batch_run import BatchMemberError, BatchOutcome, _Progress, fail_batches_on_member_error
from astra.tasks.function_output import results_output
from astra.tasks.function_query import done_keys
from astra.tasks.function_run import execute
from astra.tasks.function_upstream import select_with_upstreams

__all__ = ["FunctionTask", "ResultRowTarget", "make_task_class"]

logger = logging.getLogger("astra")


class ResultRowTarget(luigi.Target):
    """The up-to-date result row of one spectrum of a ``@task`` (for ``output()``).

    :param task: a single-spectrum :class:`FunctionTask`.
    """

    def __init__(self, task):
        self.task = task

    def exists(self):
        """Whether the spectrum has a result under this Astra major.minor, newer than its file."""
        task = self.task
        fn = task.task_function
        return bool(done_keys(task.catalogue_model(), fn, [task.spectrum_pk], retry_failed=task.retry_failed))

    def __repr__(self):
        return f"ResultRowTarget({self.task.task_function.output_model.__name__}, spectrum_pk={self.task.spectrum_pk})"


class FunctionTask(BaseTask):
    """The Luigi task running a ``@task`` method over catalogue spectra (see module docs)."""

    #: The :class:`~astra.tasks.function.TaskFunction` (set on each generated class).
    task_function = None
    task_id_parameters = ("spectrum_pk", "spectrum_model")

    spectrum_model = Parameter(default=None, description="catalogue model to read (class name)")
    spectrum_pk = IntParameter(batch_method=tuple, description="catalogue key of the spectrum")
    retry_failed = BoolParameter(
        default=False, significant=False, description="re-run spectra whose result is flagged as a failure"
    )

    def catalogue_model(self):
        """The catalogue model class named by ``spectrum_model``."""
        return self.task_function.input_model(self.spectrum_model)

    def method_params(self):
        """The method's own arguments, from this task's parameters."""
        return {name: self.param_kwargs[name] for name in self.task_function.parameters}

    @classmethod
    def result_path_for(cls, params, result):
        """The file of ``result`` in files mode: derived from the single-spectrum task's identity.

        :param params: the method's arguments.
        :param result: a result with ``spectrum_pk`` (and, from a run, the name of its catalogue
            model).
        """
        model = getattr(result, "_astra_spectrum_model", None)
        member = cls(spectrum_model=model, spectrum_pk=result.spectrum_pk, **params)
        return member.local_path(f"{cls.task_function.output_model._meta.table_name}.fits")

    def requires(self):
        """The upstream methods' tasks over the same spectra (those whose writer is imported).

        A downstream method's Luigi task needs its upstreams' results first: for each upstream
        results model written by exactly one imported ``@task`` that reads this catalogue model,
        that method's task over the same ``spectrum_pk`` (with its default parameters).
        """
        from astra.tasks.function_upstream import writer_of

        model = self.catalogue_model()
        needed = []
        for condition in self.task_function.conditions(model):
            if getattr(condition, "by", "spectrum_pk") != "spectrum_pk":
                continue  # the results of other spectra of the source: not this batch's task
            for upstream_model in condition.models:
                writer = writer_of(upstream_model)
                if writer is not None and model in writer.input_models:
                    needed.append(writer.task_class(spectrum_model=model.__name__, spectrum_pk=self.spectrum_pk))
        return needed

    def output(self):
        """Each spectrum's result: its row in the results table, or its FITS file in files mode."""
        if results_output() == "files":
            name = f"{self.task_function.output_model._meta.table_name}.fits"
            targets = [member.local_target(name) for member in self.get_batch_tasks()]
        else:
            targets = [ResultRowTarget(member) for member in self.get_batch_tasks()]
        return targets if self.is_batch_mode else targets[0]

    output._astra_batch_aware = True

    def _done(self):
        keys = [m.spectrum_pk for m in self.get_batch_tasks()]
        if results_output() == "files":
            return {m.spectrum_pk for m in self.get_batch_tasks() if m.output().exists()}
        return done_keys(self.catalogue_model(), self.task_function, keys, retry_failed=self.retry_failed)

    def complete(self):
        """Whether every spectrum has an up-to-date result (one query for the whole batch)."""
        done = self._done()
        keys = {m.spectrum_pk for m in self.get_batch_tasks()}
        complete = keys <= done
        self._completed_keys = None if complete else (get_database(), done)
        return complete

    def incomplete_batch_tasks(self, fresh=False):
        """The members without an up-to-date result (the last :meth:`complete`'s answer, once).

        :param fresh: ask the outputs now (a summary after the run).
        """
        known = self.__dict__.pop("_completed_keys", None)
        usable = known is not None and not fresh and known[0] is get_database()
        done = known[1] if usable else self._done()
        return [m for m in self.get_batch_tasks() if m.spectrum_pk not in done]

    def _read_spectra(self, keys):
        model = self.catalogue_model()
        found = {}
        chunk = 900 if is_sqlite() else 50000
        for start in range(0, len(keys), chunk):
            for spectrum in model.select().where(model.spectrum_pk.in_(keys[start : start + chunk])):
                found[spectrum.spectrum_pk] = spectrum
        return found

    def run(self):
        """Read the batch's spectra, run the method over those without a result, write them."""
        fn = self.task_function
        family = self.get_task_family()
        total = self.get_batch_size()
        keys = [m.spectrum_pk for m in self.incomplete_batch_tasks()]
        found = self._read_spectra(keys)
        failures = [
            (f"{family}(spectrum_pk={key})", f"no spectrum_pk {key} in {self.catalogue_model()._meta.table_name}")
            for key in keys
            if key not in found
        ]
        spectra = [found[key] for key in keys if key in found]
        params = self.method_params()
        conditions = fn.conditions(self.catalogue_model(), params)
        left_out = 0
        if conditions:
            spectra, results, missing = select_with_upstreams(spectra, conditions)
            params.update(results)
            for key, names in missing.items():
                failures.append((f"{family}(spectrum_pk={key})", _lacking(key, names)))
            left_out = len(found) - len(spectra) - len(missing)
        outcome = self.batch_outcome = BatchOutcome.starting(self, total, len(keys))
        # spectra whose upstream result meets no condition have nothing to do: like complete ones
        outcome.skipped += left_out
        progress = _Progress(self, total=len(keys) - left_out, skipped=outcome.skipped, by_others=outcome.by_others)
        for key, reason in failures:
            logger.error("%s: %s", key, reason)
            progress.step(failed=True)

        def step(result):
            progress.step(failed=result.flag_runtime_exception)

        sink = fn.sink(True, batch_size=int(astra.config.get("database_write_batch_size") or 1000),
                       params=self.method_params())
        for result in execute(fn.function, spectra, params, fn.output_model, sink, on_result=step):
            if result.flag_runtime_exception:
                failures.append((f"{family}(spectrum_pk={result.spectrum_pk})", result.error))
        progress.close()
        outcome.done = len(keys) - left_out - len(failures)
        for task_id, reason in failures:
            outcome.add_failure(task_id, reason)
        logger.info("%s: %s", self.task_id, progress.message())
        fail = self.fail_on_member_error
        if fail is None:
            fail = fail_batches_on_member_error()
        if failures and fail:
            raise BatchMemberError(family, outcome)


def _lacking(spectrum_pk, names):
    """Why a spectrum cannot run: it has no result of the named upstream models."""
    return f"no {', '.join(names)} result for spectrum_pk {spectrum_pk} (run the upstream method first)"


def make_task_class(task_function, params):
    """Build and register the Luigi task class of ``task_function``.

    :param task_function: a :class:`~astra.tasks.function.TaskFunction`.
    :param params: the method's Luigi parameters by name.
    :returns: a :class:`FunctionTask` subclass named after the function.
    """
    attributes = dict(params)
    attributes.update(
        __module__=task_function.function.__module__,
        __doc__=task_function.function.__doc__ or f"The Luigi task of the @task method {task_function.name}.",
        task_function=task_function,
        spectrum_model=Parameter(
            default=task_function.input_models[0].__name__,
            description="catalogue model to read: " + ", ".join(m.__name__ for m in task_function.input_models),
        ),
    )
    return type(task_function.name, (FunctionTask,), attributes)
