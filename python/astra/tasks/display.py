"""How a task looks in luigid's UI: a batch as a summary of its members, no empty keys.

luigid lists a task's public parameters. For a batch of 1,000 spectra that is every member's
``obj`` (a screen tall), and keys without a value show as ``plate=, fiber=``. With
:class:`SchedulerDisplayMixin` (part of :class:`~astra.tasks.BaseTask`) the scheduler gets:

* an extra display-only parameter :data:`MEMBERS_PARAMETER` for a batch, e.g.
  ``members=1000 spectra: obj=2M0001+01, 2M0002+02, 2M0003+03, ...`` (how many, the first few
  keys; the same text :func:`astra.runs.batch_summary` gives ``astra web``);
* the batch's tuple-valued parameters and every parameter without a value marked *hidden*,
  so luigid keeps them (it needs them to hand the task to a worker) but does not list them.

Nothing of the task's identity changes: its task id is computed from the significant public
parameters, as before, and a worker given the task by luigid ignores the extra parameter.
"""

from luigi.parameter import ParameterVisibility

from astra.luigi_glue.registry import VisibilityHook
from astra.parameters import is_batch_value

__all__ = ["SchedulerDisplayMixin", "MEMBERS_PARAMETER"]

#: The display-only parameter that summarises a batch's members in luigid's UI.
MEMBERS_PARAMETER = "members"


class SchedulerDisplayMixin(VisibilityHook):
    """What a task sends to the scheduler for display (see the module docstring)."""

    def _is_display_batch(self):
        size = getattr(self, "_batch_size", 1)
        return size > 1 and MEMBERS_PARAMETER not in self.param_kwargs

    def to_str_params(self, only_significant=False, only_public=False):
        """Luigi's parameters as text; for a batch, the full list (what the worker sends to the
        scheduler) also has :data:`MEMBERS_PARAMETER`, a summary of the members."""
        params = super().to_str_params(only_significant=only_significant, only_public=only_public)
        if not only_significant and not only_public and self._is_display_batch():
            from astra.runs import batch_summary

            params[MEMBERS_PARAMETER] = batch_summary(self)
        return params

    def adjust_param_visibilities(self, visibilities):
        """Luigi's visibilities, with empty values and a batch's member keys hidden.

        :param visibilities: ``{name: serialised ParameterVisibility}``, Luigi's.
        """
        hidden = ParameterVisibility.HIDDEN.serialize()
        batch = self._is_display_batch()
        for name, value in self.param_kwargs.items():
            if name not in visibilities or visibilities[name] != ParameterVisibility.PUBLIC.serialize():
                continue
            if value is None or value == "" or (batch and is_batch_value(value)):
                visibilities[name] = hidden
        return visibilities
