"""Finding the SDSS files on disk: the keys of every file matching a species' template.

The template of a species (e.g. dr13 apStar:
``$APOGEE_REDUX/{apred}/{apstar}/{telescope}/{field}/{prefix}Star-{apred}-{obj}.fits``) is
turned into a glob pattern, with the keys you give filled in and the others as wildcards, and a
regular expression that reads the keys back from each matching path. Giving keys narrows the
search to their directories, so the whole tree is not walked.
"""

import glob
import os
import re

from astra.parameters import ParameterTypeError, parse_json_list
from astra.tasks.io.paths import get_template, sas_root

__all__ = ["find_files", "filter_values"]

_MARK = "\x00"


def _marker(name):
    return f"{_MARK}{name}{_MARK}"


def _pattern(template, filters, root):
    keys = {}
    for name in template.keys:
        keys[name] = filters[name] if filters.get(name) is not None else _marker(name)
    try:
        text = template.full(keys, root)
    except (KeyError, ValueError, TypeError, IndexError):
        # A special function (e.g. @healpixgrp|) needs a key we do not know: derive nothing.
        text = None
    if text is None or "\x00" not in text and any(filters.get(k) is None for k in template.required):
        raise ValueError(
            f"cannot search for {template.species} files of {template.release} without "
            f"{', '.join(k for k in template.required if filters.get(k) is None)}"
        )
    pieces = re.split(f"{_MARK}(\\w+){_MARK}", text)
    glob_parts, regex_parts, seen = [], [], set()
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            glob_parts.append(glob.escape(piece))
            regex_parts.append(re.escape(piece))
        else:
            glob_parts.append("*")
            if piece in seen:
                regex_parts.append(f"(?P={piece})")
            else:
                seen.add(piece)
                regex_parts.append(f"(?P<{piece}>[^/]+?)")
    return "".join(glob_parts), re.compile("^" + "".join(regex_parts) + "$")


def filter_values(name, value):
    """A filter value: a tuple for a list of values (or a JSON list's text), else the value.

    :raises ValueError: naming the key, for text that starts with ``[`` but is not a JSON list.
    """
    if isinstance(value, str) and value.startswith("["):
        try:
            value = parse_json_list(value)
        except ParameterTypeError as error:
            raise ValueError(f"key {name!r}: {error}") from None
    if isinstance(value, (list, tuple)):
        return tuple(value) if len(value) != 1 else value[0]
    return value


def _comparable(value):
    """A key value as compared with a list filter: numbers by value ("0500" is 500)."""
    text = str(value)
    return int(text) if text.isdigit() else text


def find_files(release, species, sas_base_dir=None, limit=None, **filters):
    """The keys of every file of ``species`` in ``release`` under the SAS root.

    :param release: e.g. ``"dr13"``.
    :param species: e.g. ``"apStar"``.
    :param sas_base_dir: the SAS root (default ``$SAS_BASE_DIR``).
    :param limit: stop after this many files.
    :param filters: known key values (e.g. ``telescope="apo25m"``) that narrow the search; a
        list or tuple of values (or its JSON text, ``'["120-45", "009+09"]'``) accepts any of them.
    :returns: a list of ``(path, keys)`` in sorted path order; key values are strings.
    """
    template = get_template(release, species)
    unknown = sorted(set(filters) - set(template.keys))
    if unknown:
        raise ValueError(
            f"{species} in {release} has no key {', '.join(unknown)} (keys: {', '.join(template.keys)})"
        )
    filters = {k: filter_values(k, v) for k, v in filters.items() if v is not None}
    choices = {k: {_comparable(x) for x in v} for k, v in filters.items() if isinstance(v, tuple)}
    filters = {k: v for k, v in filters.items() if k not in choices}
    root = sas_root(sas_base_dir)
    pattern, regex = _pattern(template, filters, root)
    found = []
    for path in sorted(glob.iglob(pattern)):
        match = regex.match(os.path.normpath(path))
        if match is None:
            continue
        keys = {k: v for k, v in match.groupdict().items()}
        if any(_comparable(keys.get(k)) not in allowed for k, allowed in choices.items()):
            continue
        keys.update({k: str(v) for k, v in filters.items()})
        found.append((path, keys))
        if limit and len(found) >= limit:
            break
    return found
