"""Luigi's parameter internals, behind public names (see :mod:`astra.luigi_glue`)."""

from luigi.freezing import FrozenOrderedDict, recursively_freeze, recursively_unfreeze
from luigi.parameter import _no_value

__all__ = ["FrozenOrderedDict", "recursively_freeze", "recursively_unfreeze", "NO_VALUE", "declared_default",
           "config_path", "is_batchable", "attribute_name", "warn_on_wrong_type", "ValueLookupHook"]

#: The marker of a parameter declared without a default.
NO_VALUE = _no_value


def declared_default(parameter):
    """A parameter's default as declared (:data:`NO_VALUE` when it has none).

    :param parameter: a :class:`luigi.Parameter`.
    """
    return parameter._default


def config_path(parameter):
    """Luigi's deprecated ``[section] option`` alias of a parameter: a dict, or ``None``.

    :param parameter: a :class:`luigi.Parameter`.
    """
    return parameter._config_path


def is_batchable(parameter):
    """Whether a parameter was declared with a ``batch_method`` (a data-model key of a batch).

    :param parameter: a :class:`luigi.Parameter`.
    """
    return parameter._is_batchable()


def attribute_name(parameter):
    """The name of the task attribute a parameter is, once its class is made (else ``None``).

    :param parameter: a :class:`luigi.Parameter`.
    """
    return getattr(parameter, "_attribute_name", None)


def warn_on_wrong_type(parameter, name, value):
    """Luigi's warning for a value of the wrong type for a plain Luigi parameter.

    :param parameter: a :class:`luigi.Parameter`.
    :param name: the parameter's name.
    :param value: the value given.
    """
    parameter._warn_on_wrong_param_type(name, value)


class ValueLookupHook:
    """A mixin for a :class:`luigi.Parameter`: errors of reading a value from the command line or
    a configuration file go through :meth:`value_error`, which can name the parameter.

    Luigi calls the private ``_get_value`` for that; this is the one override of it.
    """

    #: The exceptions passed to :meth:`value_error`.
    VALUE_ERRORS = (TypeError, ValueError)

    def _get_value(self, task_name, param_name):
        try:
            return super()._get_value(task_name, param_name)
        except self.VALUE_ERRORS as error:
            raise self.value_error(task_name, param_name, error) from None

    def value_error(self, task_name, param_name, error):
        """The exception to raise for ``error`` (default: ``error`` itself).

        :param task_name: the task family.
        :param param_name: the parameter's name.
        :param error: what reading the value raised.
        """
        return error
