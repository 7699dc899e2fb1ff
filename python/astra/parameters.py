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

from astra.luigi_glue.parameters import (
    FrozenOrderedDict,
    ValueLookupHook,
    attribute_name,
    is_batchable,
    recursively_freeze,
    recursively_unfreeze,
)

__all__ = [
    "Parameter",
    "IntParameter",
    "FloatParameter",
    "BoolParameter",
    "DictParameter",
    "ListParameter",
    "TupleParameter",
    "ParameterTypeError",
    "CanonicalMixin",
    "is_batch_value",
    "parse_json_list",
    "plain_type",
    "plain_check",
    "serialises_text_as_itself",
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


def trusted(function):
    """Mark a ``normalize``/``serialize`` implementation that the construction fast path trusts.

    Trusted means: for a value of the declared plain type it changes nothing (see :func:`plain_type`).
    """
    function._astra_plain = True
    return function


def transparent(function):
    """Mark a ``_normalize_one``/``_serialize_one`` override that only adds ``None`` handling.

    :func:`plain_type` then looks through it to the implementation it wraps; a check it adds
    is declared as ``_plain_check`` beside it (see :func:`plain_check`).
    """
    function._astra_transparent = True
    return function


def _owner_attribute(cls, method, attribute):
    # The class that defines the effective ``method`` (skipping transparent wrappers) must
    # declare ``attribute`` itself: a subclass that changes the method without declaring it
    # gets no fast path.
    for klass in cls.__mro__:
        function = klass.__dict__.get(method)
        if function is None or getattr(function, "_astra_transparent", False):
            continue
        return klass.__dict__.get(attribute)
    return None


def plain_type(param):
    """The exact type whose values ``param.normalize`` returns unchanged, or ``None``.

    Task construction skips normalising a keyword value whose type is exactly this one (for
    ``str``: a non-empty string), so a million tasks given values of the right type pay no
    conversion. Only parameter classes that declare ``_plain_type`` beside their
    ``_normalize_one`` qualify; a subclass overriding either method is normalised every time.

    :param param: a parameter object.
    :returns: a type, or ``None``.
    """
    cls = type(param)
    if not getattr(cls.normalize, "_astra_plain", False):
        return None
    return _owner_attribute(cls, "_normalize_one", "_plain_type")


def plain_check(param):
    """The check a value of :func:`plain_type` still needs (raising on a bad value), or ``None``.

    A transparent ``_normalize_one`` that also validates (data-model keys refuse values that
    would leave the SAS root) declares its check as ``_plain_check`` beside it.

    :param param: a parameter object.
    """
    for klass in type(param).__mro__:
        function = klass.__dict__.get("_normalize_one")
        if function is None:
            continue
        if not getattr(function, "_astra_transparent", False):
            return None
        check = klass.__dict__.get("_plain_check")
        if check is not None:
            return check.__func__ if isinstance(check, staticmethod) else check
    return None


def serialises_text_as_itself(param):
    """Whether ``param.serialize`` returns a non-batch ``str`` value unchanged.

    :param param: a parameter object.
    """
    cls = type(param)
    if not getattr(cls.serialize, "_astra_plain", False):
        return False
    return bool(_owner_attribute(cls, "_serialize_one", "_text_is_itself"))


class CanonicalMixin(ValueLookupHook):
    """Adds one-value normalisation and tuple (batch) handling to a Luigi parameter class.

    Subclasses implement ``_normalize_one``, ``_serialize_one`` and ``_parse_one``.
    """

    #: The exact type whose values ``_normalize_one`` returns unchanged (see :func:`plain_type`).
    _plain_type = None

    def _normalize_one(self, x):
        return x

    def _serialize_one(self, x):
        return str(x)

    def _parse_one(self, x):
        return x

    def _accepts_tuples(self):
        return is_batchable(self)

    #: Errors of values from the command line and config files (:class:`ValueLookupHook`).
    VALUE_ERRORS = (ParameterTypeError, TypeError, ValueError)

    def value_error(self, task_name, param_name, error):
        """A value from the command line or a configuration file did not parse: name the parameter.

        :param task_name: the task family.
        :param param_name: the parameter's name.
        :param error: what parsing raised.
        """
        return ParameterTypeError(_named(task_name, param_name, error))

    @trusted
    def normalize(self, x):
        """Canonical form of ``x``; for batch parameters a tuple of canonical values.

        A parameter that is not a batch parameter (no ``batch_method=tuple``) accepts a tuple
        of identical values as that value (seed 003 writes ``release=("dr16", "dr16")``);
        different values are an error: one batch has one value of such a parameter.
        """
        if is_batch_value(x):
            if self._accepts_tuples():
                values = tuple(self._normalize_one(v) for v in x)
                if len(values) == 0:
                    raise ParameterTypeError("an empty tuple is not a batch")
                return values[0] if len(values) == 1 else values
            if self._scalar():
                return _the_one_value([self._normalize_one(v) for v in x])
        return self._normalize_one(x)

    def _scalar(self):
        # Lists and dictionaries are values of their own, not per-member values.
        return True

    @trusted
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
                name = attribute_name(self)
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


def _the_one_value(values):
    distinct = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    if len(distinct) == 1:
        return distinct[0]
    if not distinct:
        raise ParameterTypeError("expected a value, got an empty tuple")
    shown = ", ".join(repr(v) for v in distinct[:3]) + (", ..." if len(distinct) > 3 else "")
    raise ParameterTypeError(
        f"not a batch key: one task (one batch) has one value of it, but {len(distinct)} different values "
        f"were given ({shown}); make one task per value (astra.build groups single-spectrum tasks by "
        "it), or give it once as a plain value"
    )


class Parameter(CanonicalMixin, luigi.Parameter):
    """A string parameter (numbers given to it are kept as their text).

    As in Luigi's ``OptionalParameter``, ``None`` is written as the empty string and an empty
    string is read as ``None``: the two are the same value (and the same task), so a task
    survives the text round trip that Luigi's scheduler and forked workers make.
    """

    _plain_type = str

    def _normalize_one(self, x):
        if x is None or x == "":
            return None
        if isinstance(x, (bytes, bytearray)):
            return x.decode() or None
        return x if isinstance(x, str) else str(x)

    _text_is_itself = True

    def _serialize_one(self, x):
        return "" if x is None else str(x)

    def _parse_one(self, x):
        return None if x in ("", None) else x


class IntParameter(CanonicalMixin, luigi.IntParameter):
    """An integer parameter; integral floats and numeric strings are accepted."""

    _plain_type = int

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


class FloatParameter(CanonicalMixin, luigi.FloatParameter):
    """A float parameter: ``1`` and ``1.0`` are the same value (and the same task)."""

    _plain_type = float

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


class BoolParameter(CanonicalMixin, luigi.BoolParameter):
    """A boolean parameter; ``"true"``/``"false"`` (any case), ``0`` and ``1`` are accepted."""

    _plain_type = bool

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


class DictParameter(CanonicalMixin, luigi.DictParameter):
    """A dictionary parameter whose identity does not depend on key order."""

    def _accepts_tuples(self):
        return False

    def _scalar(self):
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


class ListParameter(CanonicalMixin, luigi.ListParameter):
    """A list parameter (stored as a tuple so it can be hashed)."""

    def _accepts_tuples(self):
        return False

    def _scalar(self):
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
