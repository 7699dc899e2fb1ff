"""The data-model keys: their types and column help, and which values are safe in a path.

Every key of every data model is described here once (:data:`KEYS`): whether it holds an
integer or text, and the help text of its column in result rows. :func:`check_key_value`
refuses a value that could make a path leave ``SAS_BASE_DIR`` (a ``/``, ``..``, NUL, newline
or other control character); :func:`printable` escapes a value for a log line.
"""

import collections
import re

__all__ = ["Key", "KEYS", "UnsafeKeyError", "check_key_value", "printable"]

#: One data-model key: its Python type (``int`` or ``str``), its result column's type
#: (``"text"``, ``"int"`` or ``"bigint"``) and the column's help text.
Key = collections.namedtuple("Key", "name type column help")


def _keys(*rows):
    return {row[0]: Key(*row) for row in rows}


#: Every key a data model may have (and ``release``), in the order result rows list them.
KEYS = _keys(
    ("release", str, "text", "SDSS data release"),
    ("telescope", str, "text", "Telescope"),
    ("field", str, "text", "Field name"),
    ("obj", str, "text", "Object identifier"),
    ("plate", int, "text", "Plate"),
    ("mjd", int, "int", "Modified Julian date of observation"),
    ("fiber", int, "int", "Fiber number"),
    ("apred", str, "text", "APOGEE reduction version"),
    ("apstar", str, "text", "APOGEE apStar version"),
    ("prefix", str, "text", "apStar file prefix"),
    ("run2d", str, "text", "BOSS reduction version"),
    ("plateid", int, "int", "BOSS plate identifier"),
    ("fiberid", int, "int", "BOSS fiber identifier"),
    ("healpix", int, "int", "HEALPix pixel"),
    ("sdss_id", int, "bigint", "SDSS-V identifier"),
    ("fieldid", str, "text", "SDSS-V BOSS field identifier"),
    ("catalogid", int, "bigint", "SDSS-V catalog identifier"),
    ("cat_id", int, "bigint", "SDSS-V catalog identifier (ipl1, ipl2)"),
    ("component", str, "text", "Multiple-system component"),
    ("v_astra", str, "text", "Astra version of an mwm file"),
    ("aspcap", str, "text", "ASPCAP version"),
    ("results", str, "text", "ASPCAP results version"),
    ("location", str, "text", "APOGEE location identifier"),
)


class UnsafeKeyError(ValueError):
    """A data-model key value could make a path leave the SAS root."""


# A path separator, a parent-directory step, or any control character (NUL, newline, tab,
# DEL, C1 controls): none of them occur in SDSS key values.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]|\.\.")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value):
    """``value`` as text with control characters escaped (``\\n``, ``\\x00``), for a log line.

    :param value: anything; non-text values are converted with :func:`str`.
    :returns: one line of text.
    """
    text = value if isinstance(value, str) else str(value)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def check_key_value(value):
    """Return ``value`` if it is safe in a data-model path; raise otherwise.

    Only text is checked (integers are always safe). Refused: a ``/`` or ``\\``, ``..``,
    a value that is exactly ``.``, and control characters (NUL, newline, ...).

    :param value: a key value.
    :raises UnsafeKeyError: saying why, with the value escaped as :func:`repr` does.
    """
    if isinstance(value, str) and (value == "." or _UNSAFE.search(value)):
        found = _UNSAFE.search(value)
        what = "'.'" if found is None else (
            "'..'" if found.group(0) == ".." else
            "a path separator" if found.group(0) in "/\\" else "a control character"
        )
        raise UnsafeKeyError(
            f"unsafe value {value!r} (contains {what}): a data-model key may not "
            "make a path leave SAS_BASE_DIR"
        )
    return value
