"""Provenance of class-style results (seeds 002/003): one record per batch, stamped on each row.

A class-style task's identity already holds its significant parameters (changing one gives
other task ids, other rows, other files); the record says which parameters, code, host and run
made a row, exactly as for ``@task`` results. The data-model keys (which differ per member) are
not part of the record: they are the row's own columns.
"""

import json
import logging
import os
import time

import luigi

from astra.database.models import DATA_MODEL_KEYS
from astra.luigi_glue.parameters import is_batchable
from astra.provenance.record import MethodProvenance, checksum_setting, input_facts
import astra.provenance.table  # as a module: astra.database, which it imports, imports this module
from astra.targets import atomic_open, first_input_path

__all__ = ["BatchProvenance", "member_provenance", "provenance_directory", "PROVENANCE_DIRECTORY",
           "PROVENANCE_SUFFIX"]

logger = logging.getLogger("astra")

#: The directory (below a family's output directory) of its batches' provenance files.
PROVENANCE_DIRECTORY = "provenance"

#: The suffix of a batch's provenance file (two JSON lines: the record, then the members' facts as columns).
#: Not ``.json``: a family's outputs are often ``*.json`` files, and these are not outputs.
PROVENANCE_SUFFIX = ".jsonl"


def provenance_directory(path):
    """The directory of the provenance files of the family an identity-named output belongs to.

    Outputs may sit in shard directories below the family's directory (``<family>/27/ce/...``),
    so the nearest ``provenance`` directory above the file is taken (at most four levels up).

    :param path: an output file of a class-style task.
    :returns: that directory, or the one it would be beside the file when none exists.
    """
    directory = os.path.dirname(os.path.abspath(str(path)))
    for _ in range(5):
        candidate = os.path.join(directory, PROVENANCE_DIRECTORY)
        if os.path.isdir(candidate):
            return candidate
        directory = os.path.dirname(directory)
    return os.path.join(os.path.dirname(str(path)), PROVENANCE_DIRECTORY)


def member_provenance(path):
    """The provenance of the member that wrote ``path``: ``(record, member facts)``, or ``None``.

    The batches' provenance files of the family are searched, newest first (a member run
    again in a later batch is described by the later file).

    :param path: an identity-named output file (``<hash>-<name>``).
    """
    digest, dash, _ = os.path.basename(str(path)).partition("-")
    if not dash:
        return None
    directory = provenance_directory(path)
    try:
        names = [n for n in os.listdir(directory) if n.endswith(PROVENANCE_SUFFIX)]
    except FileNotFoundError:
        return None
    paths = sorted((os.path.join(directory, n) for n in names), key=_mtime, reverse=True)
    for candidate in paths:
        try:
            with open(candidate) as fp:
                text = fp.read()
            if digest not in text:
                continue
            first, _, rest = text.partition("\n")
            record, table = json.loads(first), json.loads(rest)
            columns = table["members"]
            index = columns["identity"].index(digest)
            member = {name: columns[name][index] for name in ("input_path", "input_size", "input_checksum")}
            member["keys"] = {name: columns[name][index] for name in table["keys"]
                              if columns[name][index] is not None}
            return record, member
        except (OSError, ValueError, KeyError):
            continue  # a damaged file: look in the others
    return None


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0


_PER_MEMBER = frozenset(DATA_MODEL_KEYS) | {"release", "species"}


class BatchProvenance:
    """The provenance of one class-style batch: its record (interned on first use) and each
    member's input facts.

    :param batch: the batch task (a ``BaseTask``).
    """

    def __init__(self, batch):
        params = {name: getattr(batch, name) for name, parameter in batch.get_params()
                  if parameter.significant and name not in _PER_MEMBER and not is_batchable(parameter)}
        cls = type(batch)
        self.record = MethodProvenance(f"{cls.__module__}.{cls.__name__}", cls.__module__, params, kind="class")
        self.record.record["release"] = getattr(batch, "release", None)
        self.checksum = checksum_setting()
        self._pk = None
        self.members = {}  # noted members of a batch with file outputs: column name -> values
        self._key_names = self._has_inputs = None

    def stamp(self, row, member, db=None):
        """Set ``provenance_pk``, ``input_size`` and ``input_checksum`` in ``row`` (a dict).

        :param row: the member's row (column name to value).
        :param member: the single-spectrum task.
        :param db: the database (default: the bound one).
        """
        if self._pk is None:
            self._pk = astra.provenance.table.intern(self.record, db=db)
        row["provenance_pk"] = self._pk
        row["input_size"], row["input_checksum"] = input_facts(first_input_path(member), self.checksum)
        return row

    def note_member(self, member):
        """Note that ``process()`` wrote ``member``'s files: its keys and input file's facts go in
        the batch's provenance file (:meth:`write`). A member without identity-named outputs is
        not noted.

        :param member: the single-spectrum task whose outputs ``process()`` wrote.
        """
        if getattr(member, "local_path", None) is None:
            return
        if self._key_names is None:  # once per batch: the per-member keys and whether there are inputs
            self._key_names = [name for name, _ in member.get_params() if name in _PER_MEMBER]
            self._has_inputs = type(member).requires is not luigi.Task.requires
        path = first_input_path(member) if self._has_inputs else None
        size, checksum = input_facts(path, self.checksum) if path else (None, None)
        columns = self.members
        if not columns:
            columns.update({"identity": [], "input_path": [], "input_size": [], "input_checksum": []})
            columns.update({name: [] for name in self._key_names})
        columns["identity"].append(member.identity_hash)
        columns["input_path"].append(path)
        columns["input_size"].append(size)
        columns["input_checksum"].append(checksum)
        for name in self._key_names:
            columns[name].append(getattr(member, name, None))

    def write(self, batch):
        """Write the batch's provenance file, once, atomically: the record on the first line,
        then the noted members' facts as columns (``<family dir>/provenance/<batch hash>-<ns>.jsonl``). Stored
        once per batch, not once per spectrum. A file that cannot be written is logged, not raised.

        :param batch: the batch task.
        :returns: the file's path, or ``None`` (no member noted, or not written).
        """
        if not self.members:
            return None
        # one file per run of the batch: a re-run (of the members the last one left) must not
        # replace the lines of the members the last one finished
        target = os.path.join(type(batch)._output_root(), PROVENANCE_DIRECTORY,
                              f"{batch.identity_hash}-{time.time_ns()}{PROVENANCE_SUFFIX}")
        try:
            with atomic_open(target) as fp:
                fp.write(json.dumps(self.record.record, sort_keys=True, default=str) + "\n")
                fp.write(json.dumps({"keys": self._key_names, "members": self.members}, default=str) + "\n")
        except OSError as error:
            logger.warning("could not write the provenance of %s: %s", batch.task_id, error)
            return None
        self.members = {}
        return target
