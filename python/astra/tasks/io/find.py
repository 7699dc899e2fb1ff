"""Finding the SDSS files on disk: the keys of every file matching a species' template.

The template of a species (e.g. dr13 apStar:
``$APOGEE_REDUX/{apred}/{apstar}/{telescope}/{field}/{prefix}Star-{apred}-{obj}.fits``) is
turned into a glob pattern, with the keys you give filled in and the others as wildcards, and a
regular expression that reads the keys back from each matching path. Giving keys narrows the
search to their directories, so the whole tree is not walked.
"""

import glob
import json
import os
import re

from astra.datamodels.keys import check_key_value
from astra.tasks.io.paths import get_template, sas_root

__all__ = ["find_files", "scan_files"]

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


def _values(value):
    """A filter value: a tuple for a list of values (or a JSON list's text), else the value."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return value
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
    filters = {k: _values(v) for k, v in filters.items() if v is not None}
    for name, value in filters.items():
        for one in value if isinstance(value, tuple) else (value,):
            try:
                check_key_value(one)
            except ValueError as error:
                raise ValueError(f"{species} in {release}: key {name!r}: {error}") from None
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


def scan_files(release, species, sas_base_dir=None, **filters):
    """Every file of ``species`` in ``release`` with its keys, size and modification time.

    Like :func:`find_files`, but walks the directories with :func:`os.scandir` (one listing
    per directory, one ``stat`` per file, nothing sorted globally), which is what lets
    ``astra migrate`` look at tens of thousands of files a second. Files are yielded in
    sorted order within each directory.

    :param release: e.g. ``"dr13"``.
    :param species: e.g. ``"apStar"``.
    :param sas_base_dir: the SAS root (default ``$SAS_BASE_DIR``).
    :param filters: known key values, as for :func:`find_files`.
    :returns: an iterator of ``(path, keys, size, mtime)``; key values are strings.
    """
    template = get_template(release, species)
    unknown = sorted(set(filters) - set(template.keys))
    if unknown:
        raise ValueError(
            f"{species} in {release} has no key {', '.join(unknown)} (keys: {', '.join(template.keys)})"
        )
    filters = {k: _values(v) for k, v in filters.items() if v is not None}
    choices = {k: {_comparable(x) for x in v} for k, v in filters.items() if isinstance(v, tuple)}
    filters = {k: v for k, v in filters.items() if k not in choices}
    pattern, regex = _pattern(template, filters, sas_root(sas_base_dir))
    fixed = {k: str(v) for k, v in filters.items()}
    for path, size, mtime in _walk(os.path.normpath(pattern)):
        match = regex.match(path)
        if match is None:
            continue
        keys = match.groupdict()
        if choices and any(_comparable(keys.get(k)) not in allowed for k, allowed in choices.items()):
            continue
        keys.update(fixed)
        yield path, keys, size, mtime


def _walk(pattern):
    """``(path, size, mtime)`` of the files matching a glob ``pattern`` (wildcards only in names)."""
    import fnmatch

    parts = pattern.split(os.sep)
    start = os.sep if pattern.startswith(os.sep) else ""
    parts = [p for p in parts if p]
    # Leading parts without wildcards are one directory: no listing needed.
    prefix = []
    while parts and not glob.has_magic(parts[0]) and len(parts) > 1:
        prefix.append(parts.pop(0))
    base = start + os.sep.join(prefix)
    # glob.escape wraps a magic character in brackets, so a part without magic is literal.
    matchers = [re.compile(fnmatch.translate(p)).match if glob.has_magic(p) else p.__eq__ for p in parts]
    yield from _descend(base or ".", matchers)


def _descend(directory, matchers):
    match, rest = matchers[0], matchers[1:]
    try:
        with os.scandir(directory) as it:
            entries = sorted((e for e in it if match(e.name)), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        if rest:
            if entry.is_dir():
                yield from _descend(entry.path, rest)
            continue
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
        except OSError:
            continue
        yield entry.path, st.st_size, st.st_mtime
