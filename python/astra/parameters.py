"""Luigi parameters with canonical values, so equal values always give the same task identity.

Every parameter here normalises what it is given before Luigi hashes it: an ``int`` given to a
:class:`FloatParameter` becomes a ``float``, a dictionary's keys are serialised in sorted order,
a boolean written as ``"true"`` is ``True``. A value of the wrong type raises
:class:`ParameterTypeError` instead of silently creating a different task.

Parameters declared with ``batch_method=tuple`` (all SDSS data-model keys are) also accept a
tuple or list of values, one per member of a batch. On the command line a batch is written as a
JSON list, for example ``--obj '["2M0001+0001", "2M0002+0002"]'``. A one-member tuple is
normalised to its scalar, so it is the same task as the single spectrum.
"""

import json
from collections.abc import Mapping

import luigi
from luigi.freezing import FrozenOrderedDict, recursively_freeze, recursively_unfreeze

__all__ = [
    "Parameter",
    "IntParameter",
    "FloatParameter",
    "BoolParameter",
    "DictParameter",
    "ListParameter",
    "TupleParameter",
    "ParameterTypeError",
    "is_batch_value",
    "parse_json_list",
]


class ParameterTypeError(ValueError):
    """A parameter was given a value that cannot be turned into its type."""


def is_batch_value(value):
    """Whether ``value`` holds one value per batch member (a tuple or list)."""
    return isinstance(value, (tuple, list))


def parse_json_list(text):
    """The values of a batch written as a JSON list, e.g. ``'["120-45", "009+09"]'``.

    Text that starts with ``[`` is always meant as a list, so text that is not valid JSON is an
    error (it never becomes a literal value that then matches no file).

    :param text: the text, starting with ``[``.
    :returns: the list's values.
    :raises ParameterTypeError: saying what is wrong with the text and how to write it.
    """
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise ParameterTypeError(
            f"{text!r} is not a valid JSON list ({error.msg} at character {error.pos}); "
            "quote each value, e.g. '[\"120-45\", \"009+09\"]'"
        ) from None
    if not isinstance(items, list):
        raise ParameterTypeError(f"{text!r} is not a JSON list")
    return items


def _json_default(value):
    if isinstance(value, FrozenOrderedDict):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{value!r} cannot be written as JSON")


def _canonical_json(value):
    return json.dumps(recursively_unfreeze(value), sort_keys=True, default=_json_default)


class _CanonicalMixin:
    """Adds one-value normalisation and tuple (batch) handling to a Luigi parameter class.

    Subclasses implement ``_normalize_one``, ``_serialize_one`` and ``_parse_one``.
    """

    def _normalize_one(self, x):
        return x

    def _serialize_one(self, x):
        return str(x)

    def _parse_one(self, x):
        return x

    def _accepts_tuples(self):
        return self._is_batchable()

    def _get_value(self, task_name, param_name):
        # Values from the command line and config files are parsed here: name the parameter.
        try:
            return super()._get_value(task_name, param_name)
        except (ParameterTypeError, TypeError, ValueError) as error:
            raise ParameterTypeError(_named(task_name, param_name, error)) from None

    def normalize(self, x):
        """Canonical form of ``x``; for batch parameters a tuple of canonical values."""
        if self._accepts_tuples() and is_batch_value(x):
            values = tuple(self._normalize_one(v) for v in x)
            if len(values) == 0:
                raise ParameterTypeError("an empty tuple is not a batch")
            return values[0] if len(values) == 1 else values
        return self._normalize_one(x)

    def serialize(self, x):
        """Text form; a batch becomes a JSON list of the members' text forms."""
        if self._accepts_tuples() and is_batch_value(x):
            return json.dumps([self._serialize_one(v) for v in x])
        return self._serialize_one(x)

    def parse(self, x):
        """Read the text form (a JSON list for a batch) back into a value.

        Text that is not a valid value is returned as it is: Luigi's command line parses
        without knowing the parameter's name, and :meth:`normalize`, called where the name is
        known, then reports it. Text that starts with ``[`` but is not a JSON list is an error
        at once (:func:`parse_json_list`), naming the parameter when it is known.
        """
        if self._accepts_tuples() and isinstance(x, str) and x.startswith("["):
            try:
                items = parse_json_list(x)
            except ParameterTypeError as error:
                # Luigi's command line calls parse() directly; the attribute name is all we have.
                name = getattr(self, "_attribute_name", None)
                raise ParameterTypeError(f"parameter '{name}': {error}" if name else str(error)) from None
            return tuple(self._lenient_parse(v if isinstance(v, str) else json.dumps(v)) for v in items)
        return self._lenient_parse(x)

    def _lenient_parse(self, x):
        try:
            return self._parse_one(x)
        except (ParameterTypeError, TypeError, ValueError):
            return x

    def task_value(self, task_name, param_name):
        """The value from the command line or configuration, with errors naming the parameter."""
        try:
            return super().task_value(task_name, param_name)
        except (ParameterTypeError, TypeError, ValueError) as error:
            if str(error).startswith(f"{task_name}: parameter"):
                raise
            raise ParameterTypeError(_named(task_name, param_name, error)) from None


def _named(task_name, param_name, error):
    """The message of ``error`` prefixed with the task and the parameter (each once)."""
    text = str(error)
    if text.startswith(f"parameter '{param_name}': "):
        return f"{task_name}: {text}"
    return f"{task_name}: parameter '{param_name}': {text}"


class Parameter(_CanonicalMixin, luigi.Parameter):
    """A string parameter (numbers given to it are kept as their text).

    As in Luigi's ``OptionalParameter``, ``None`` is written as the empty string and an empty
    string is read as ``None``: the two are the same value (and the same task), so a task
    survives the text round trip that Luigi's scheduler and forked workers make.
    """

    def _normalize_one(self, x):
        if x is None or x == "":
            return None
        if isinstance(x, (bytes, bytearray)):
            return x.decode() or None
        return x if isinstance(x, str) else str(x)

    def _serialize_one(self, x):
        return "" if x is None else str(x)

    def _parse_one(self, x):
        return None if x in ("", None) else x


class IntParameter(_CanonicalMixin, luigi.IntParameter):
    """An integer parameter; integral floats and numeric strings are accepted."""

    def _normalize_one(self, x):
        if x is None:
            return None
        if isinstance(x, bool):
            raise ParameterTypeError(f"expected an integer, got the boolean {x!r}")
        try:
            value = int(x)
        except (TypeError, ValueError):
            raise ParameterTypeError(f"expected an integer, got {x!r}") from None
        if isinstance(x, float) and value != x:
            raise ParameterTypeError(f"expected an integer, got the non-integral {x!r}")
        return value

    def _parse_one(self, x):
        return self._normalize_one(x)

    def next_in_enumeration(self, value):
        """The next integer (used by Luigi's summaries); ``None`` for a batch."""
        return None if is_batch_value(value) else value + 1


class FloatParameter(_CanonicalMixin, luigi.FloatParameter):
    """A float parameter: ``1`` and ``1.0`` are the same value (and the same task)."""

    def _normalize_one(self, x):
        if x is None:
            return None
        if isinstance(x, bool):
            raise ParameterTypeError(f"expected a number, got the boolean {x!r}")
        try:
            return float(x)
        except (TypeError, ValueError):
            raise ParameterTypeError(f"expected a number, got {x!r}") from None

    def _serialize_one(self, x):
        return repr(float(x))

    def _parse_one(self, x):
        return self._normalize_one(x)


class BoolParameter(_CanonicalMixin, luigi.BoolParameter):
    """A boolean parameter; ``"true"``/``"false"`` (any case), ``0`` and ``1`` are accepted."""

    def _normalize_one(self, x):
        if isinstance(x, bool):
            return x
        if x in (0, 1) and not isinstance(x, str):
            return bool(x)
        text = str(x).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ParameterTypeError(f"expected true or false, got {x!r}")

    def _parse_one(self, x):
        return self._normalize_one(x)

    def _serialize_one(self, x):
        return "True" if x else "False"


class DictParameter(_CanonicalMixin, luigi.DictParameter):
    """A dictionary parameter whose identity does not depend on key order."""

    def _accepts_tuples(self):
        return False

    def _normalize_one(self, x):
        if isinstance(x, str):
            x = json.loads(x)
        if not isinstance(x, Mapping):
            raise ParameterTypeError(f"expected a mapping, got {x!r}")
        return luigi.DictParameter.normalize(self, x)

    def _serialize_one(self, x):
        return _canonical_json(x)

    def _parse_one(self, x):
        return luigi.DictParameter.parse(self, x)


class ListParameter(_CanonicalMixin, luigi.ListParameter):
    """A list parameter (stored as a tuple so it can be hashed)."""

    def _accepts_tuples(self):
        return False

    def _normalize_one(self, x):
        if isinstance(x, str):
            x = json.loads(x)
        return recursively_freeze(list(x))

    def _serialize_one(self, x):
        return _canonical_json(x)

    def _parse_one(self, x):
        return luigi.ListParameter.parse(self, x)


class TupleParameter(ListParameter):
    """A tuple parameter; the same as :class:`ListParameter` for identity."""
