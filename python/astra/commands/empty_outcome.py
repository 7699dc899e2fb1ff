"""What ``astra run``/``astra srun`` say when a ``@task`` method has no spectrum to analyse.

"Nothing to do" must never hide "nothing there": three cases get three different lines.

* the catalogue has no row for the model: ``0 rows in the catalogue for <Model>: run
  `astra migrate ...``` (on stderr, exit status 1);
* the rows exist but ``--where`` (or the ``--spectrum-pk-range``) keeps none: ``--where
  matched 0 of N rows`` (stderr, exit status 1);
* every chosen row has an up-to-date result: ``N rows, all up to date`` (stdout, 0).
"""

import functools
import operator

from astra.database.where import count_where

__all__ = ["EmptyOutcome", "explain_empty", "migrate_hint"]


class EmptyOutcome:
    """Why there was nothing to run.

    :ivar line: the line to print.
    :ivar exit_code: 0 when everything chosen is up to date, 1 when nothing was chosen.
    """

    def __init__(self, line, exit_code):
        self.line = line
        self.exit_code = exit_code

    @property
    def to_stderr(self):
        """Whether the line is a complaint (stderr) rather than news (stdout)."""
        return self.exit_code != 0

    def __str__(self):
        return self.line


def migrate_hint(model):
    """The ``astra migrate`` command that fills ``model``'s catalogue table.

    :param model: a catalogue (spectrum) model.
    """
    species = list(model.data_models()) if hasattr(model, "data_models") else ["<data model>"]
    return f"astra migrate --release <release> --species {species[0]} --sas-base-dir <SAS root>"


def explain_empty(function, model, where=None, ranges=None, db=None):
    """Say why ``function`` found no spectrum of ``model`` to analyse.

    :param function: the ``@task`` method (a :class:`~astra.tasks.function.TaskFunction`).
    :param model: the catalogue model.
    :param where: the ``--where`` condition, if any.
    :param ranges: the ``(lo, hi)`` ``spectrum_pk`` ranges, if any.
    :param db: the database (default: the bound one).
    :returns: an :class:`EmptyOutcome`.
    """
    name = f"{function.name} over {model.__name__}"
    total = model.select().count()
    if total == 0:
        species = list(model.data_models()) if hasattr(model, "data_models") else []
        others = f" (or --species {', '.join(species[1:])})" if len(species) > 1 else ""
        return EmptyOutcome(f"{name}: 0 rows in the catalogue for this model: run `{migrate_hint(model)}`{others} "
                            "first", 1)
    base, within = None, ""
    if ranges:
        base = functools.reduce(operator.or_, [model.spectrum_pk.between(int(lo), int(hi)) for lo, hi in ranges])
        within = f" in spectrum_pk {ranges[0][0]}..{ranges[0][1]}" + (
            f" (and {len(ranges) - 1} more ranges)" if len(ranges) > 1 else "")
    chosen = count_where(model, where or "1 = 1", base=base, db=db) if (where or base is not None) else total
    matched = f"--where matched {{}} of {total} rows{within}" if where else f"{{}} of {total} rows{within}"
    if chosen == 0:
        return EmptyOutcome(f"{name}: {matched.format(0)}", 1)
    rows = matched.format(chosen) if (where or within) else f"{chosen} rows"
    conditions = function.conditions(model) if hasattr(function, "conditions") else ()
    done = f"all up to date in {function.output_model.__name__}"
    if conditions:
        upstream = "; ".join(c.describe() for c in conditions)
        done += f" or not chosen by its upstream ({upstream})"
    return EmptyOutcome(f"{name}: nothing to do: {rows}, {done}", 0)
