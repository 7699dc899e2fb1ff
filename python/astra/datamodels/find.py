"""Finding the SDSS files on disk: the keys of every file matching a species' template.

The template of a species (e.g. dr13 apStar:
``$APOGEE_REDUX/{apred}/{apstar}/{telescope}/{field}/{prefix}Star-{apred}-{obj}.fits``) is
turned into a glob pattern, with the keys you give filled in and the others as wildcards, and a
regular expression that reads the keys back from each matching path. Giving keys narrows the
search to their directories, so the whole tree is not walked.
"""

import csv
import glob
import os
import re

from astra.datamodels.keys import KEYS, check_key_value
from astra.parameters import ParameterTypeError, parse_json_list
from astra.datamodels import paths
from astra.datamodels.paths import get_template, sas_root

__all__ = ["find_files", "filter_values", "scan_files", "FileScan", "NOT_A_FILE", "read_keys_table"]

_MARK = "\x00"

#: The size :class:`FileScan` gives a path that matches the template but is not a regular file
#: (a directory named ``*.fits``, a symbolic link loop or a broken link): ``astra migrate`` flags
#: its row with the reason the run path gives (:func:`astra.tasks.inputs.input_file_problem`).
NOT_A_FILE = -1


def _marker(name):
    return f"{_MARK}{name}{_MARK}"


#: Marks a path segment that a special function derives from keys we do not know.
_ANY = "_astra_any"
_ERRORS = (KeyError, ValueError, TypeError, IndexError)


def _with_wildcard_specials(template, keys, root):
    """The template's path, each special function that needs an unknown key as wildcards.

    A special function such as ``@sdss_id_groups|`` (``12/34``) or ``@healpixgrp|`` derives
    directories from a key; when the key is not given, the function's output for a sample
    value shows how many directory levels it makes, and each becomes a wildcard.
    """
    values = dict(keys)
    sample = {k: "0" if isinstance(v, str) and _MARK in v else v for k, v in keys.items()}
    for field, function in template._specials:
        try:
            values[field] = function(template.species, values)
        except _ERRORS:
            try:
                shape = function(template.species, sample)
            except _ERRORS:
                return None
            values[field] = "/".join(_marker(_ANY) for _ in shape.split("/")) if shape else ""
    text = template._format(values)
    if text.startswith(template._placeholder):
        text = paths.sas_root(root) + text[len(template._placeholder):]
    if "tags/" in text:
        text = paths._TAGS.sub(r"\1", text, count=1)
    return os.path.normpath(text)


def _pattern(template, filters, root):
    keys = {}
    for name in template.keys:
        keys[name] = filters[name] if filters.get(name) is not None else _marker(name)
    try:
        text = template.full(keys, root)
    except _ERRORS:
        # A special function (e.g. @sdss_id_groups|) needs a key we do not know.
        text = _with_wildcard_specials(template, keys, root)
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
            if piece == _ANY:
                regex_parts.append("[^/]+")
            elif piece in seen:
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


def _checked_filters(template, filters):
    """Key filters split into single values and lists (as sets of comparable values).

    :raises ValueError: for a key the species does not have, or an unsafe value (naming it).
    """
    species, release = template.species, template.release
    unknown = sorted(set(filters) - set(template.keys))
    if unknown:
        raise ValueError(
            f"{species} in {release} has no key {', '.join(unknown)} (keys: {', '.join(template.keys)})"
        )
    filters = {k: filter_values(k, v) for k, v in filters.items() if v is not None}
    for name, value in filters.items():
        for one in value if isinstance(value, tuple) else (value,):
            try:
                check_key_value(one)
            except ValueError as error:
                raise ValueError(f"{species} in {release}: key {name!r}: {error}") from None
    choices = {k: {_comparable(x) for x in v} for k, v in filters.items() if isinstance(v, tuple)}
    return {k: v for k, v in filters.items() if k not in choices}, choices


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
    filters, choices = _checked_filters(template, filters)
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


class FileScan:
    """The files of ``species`` in ``release`` under the SAS root, listed fast, keys on demand.

    :meth:`files` walks the directories with :func:`os.scandir` (one listing per directory,
    one ``stat`` per file, nothing sorted globally) and :meth:`keys` reads the keys back from
    a path only when asked, which is what lets ``astra migrate`` pass over tens of thousands of
    unchanged files a second. Files come in sorted order within each directory.

    :param release: e.g. ``"dr13"``.
    :param species: e.g. ``"apStar"``.
    :param sas_base_dir: the SAS root (default ``$SAS_BASE_DIR``).
    :param filters: known key values, as for :func:`find_files`.
    :raises ValueError: for a key the species does not have.
    """

    def __init__(self, release, species, sas_base_dir=None, **filters):
        template = get_template(release, species)
        filters, self._choices = _checked_filters(template, filters)
        pattern, self._regex = _pattern(template, filters, sas_root(sas_base_dir))
        self._pattern = os.path.normpath(pattern)
        self._fixed = {k: str(v) for k, v in filters.items()}

    def files(self):
        """``(path, size, mtime)`` of every file matching the template (and list filters).

        A path that matches but is not a regular file (a directory, a symbolic link loop, a
        broken link) comes with the size :data:`NOT_A_FILE` and mtime 0, so that it is flagged,
        not passed over.

        A path whose keys do not read back (or fail a list filter) is left out only when
        :meth:`keys` says so; without list filters the check is left to :meth:`keys`.
        """
        if not self._choices:
            return _walk(self._pattern)
        return ((p, s, m) for p, s, m in _walk(self._pattern) if self.keys(p) is not None)

    def keys(self, path):
        """The keys of ``path`` (strings), or ``None`` if it is not a file of this scan.

        :param path: a path yielded by :meth:`files`.
        """
        match = self._regex.match(path)
        if match is None:
            return None
        keys = match.groupdict()
        if self._choices and any(_comparable(keys.get(k)) not in v for k, v in self._choices.items()):
            return None
        keys.update(self._fixed)
        return keys


def scan_files(release, species, sas_base_dir=None, **filters):
    """Every file of ``species`` in ``release`` with its keys, size and modification time.

    Like :func:`find_files`, but walks the directories once with :func:`os.scandir` (see
    :class:`FileScan`) and gives each file's size and mtime too.

    :param release: e.g. ``"dr13"``.
    :param species: e.g. ``"apStar"``.
    :param sas_base_dir: the SAS root (default ``$SAS_BASE_DIR``).
    :param filters: known key values, as for :func:`find_files`.
    :returns: an iterator of ``(path, keys, size, mtime)``; key values are strings.
    """
    scan = FileScan(release, species, sas_base_dir, **filters)
    for path, size, mtime in scan.files():
        keys = scan.keys(path)
        if keys is not None:
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
    """The files under ``directory`` whose path parts match ``matchers`` level by level.

    Walked with a stack rather than recursion, so each file passes through one generator.
    """
    last = len(matchers) - 1
    stack = [(directory, 0)]
    while stack:
        directory, level = stack.pop()
        match = matchers[level]
        try:
            with os.scandir(directory) as it:
                entries = sorted((e for e in it if match(e.name)), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        if level < last:  # sorted order: the first directory is taken off the stack first
            stack.extend((entry.path, level + 1) for entry in reversed(entries) if entry.is_dir())
            continue
        for entry in entries:
            try:
                regular = entry.is_file()
                if regular:
                    st = entry.stat()
            except OSError:  # a symbolic link loop, a file that went away meanwhile
                regular = False
            if regular:
                yield entry.path, st.st_size, st.st_mtime
            elif os.path.lexists(entry.path):  # named as a file, but not one: the caller flags it
                yield entry.path, NOT_A_FILE, 0.0


def read_keys_table(path):
    """Rows of data-model keys from a CSV file (header row of key names) or a FITS table.

    :param path: a ``.csv`` or ``.fits`` file.
    :returns: a list of dicts of key name to text value.
    :raises ValueError: if the file does not exist, or a row has a data-model key value that
        could make a path leave the SAS root (naming the file, the row and the key).
    """
    if not os.path.exists(path):
        raise ValueError(f"keys table {path} does not exist")
    if path.lower().endswith((".fits", ".fit", ".fits.gz")):
        from astropy.table import Table

        table = Table.read(path)
        rows = [{name: str(row[name]).strip() for name in table.colnames} for row in table]
    else:
        with open(path, newline="") as fp:
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(fp)]
    for number, row in enumerate(rows, 1):
        _check_keys(path, number, row)
    return rows


def _check_keys(path, number, row):
    """Refuse a row whose data-model key value could make a path leave the SAS root."""
    for name, value in row.items():
        if name in KEYS:
            try:
                check_key_value(value)
            except ValueError as error:
                raise ValueError(f"keys table {path}, row {number}, key {name!r}: {error}") from None
