"""Provenance of class-style results (seeds 002/003): one record per batch, stamped on each row.

A class-style task's identity already holds its significant parameters (changing one gives
other task ids, other rows, other files); the record says which parameters, code, host and run
made a row, exactly as for ``@task`` results. The data-model keys (which differ per member) are
not part of the record: they are the row's own columns.
"""

import json
import logging
import os

import luigi

from astra.database.models import DATA_MODEL_KEYS
from astra.luigi_glue.parameters import is_batchable
from astra.provenance.record import MethodProvenance, checksum_setting, input_facts
import astra.provenance.table  # as a module: astra.database, which it imports, imports this module
from astra.targets import atomic_open

__all__ = ["BatchProvenance", "first_input_path", "SIDECAR_NAME", "sidecar_of"]

logger = logging.getLogger("astra")

#: The name (after the identity hash) of a class-style member's provenance file, beside its outputs.
SIDECAR_NAME = "provenance.json"


def sidecar_of(path):
    """The provenance file beside an identity-named output (``<hash>-<name>``), or ``None``.

    :param path: an output file of a class-style task.
    """
    directory, name = os.path.split(str(path))
    digest, dash, _ = name.partition("-")
    return os.path.join(directory, f"{digest}-{SIDECAR_NAME}") if dash else None

_PER_MEMBER = frozenset(DATA_MODEL_KEYS) | {"release", "species"}


def first_input_path(member):
    """The first input file of ``member``, or ``None``.

    :param member: a single-spectrum task.
    """
    try:
        targets = luigi.task.flatten(member.input())
    except Exception:  # the input cannot even be built: no file to name
        return None
    for target in targets:
        path = getattr(target, "path", None)
        if path:
            return str(path)
    return None


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

    def write_sidecar(self, member):
        """Write ``member``'s provenance beside its file outputs (``<hash>-provenance.json``):
        the record, its input file's facts and its data-model keys. A member without
        identity-named outputs gets none; a file that cannot be written is logged, not raised.

        :param member: the single-spectrum task whose outputs ``process()`` wrote.
        """
        local_path = getattr(member, "local_path", None)
        if local_path is None:
            return None
        path = first_input_path(member)
        size, checksum = input_facts(path, self.checksum)
        keys = {name: getattr(member, name) for name, _ in member.get_params()
                if name in _PER_MEMBER and getattr(member, name, None) is not None}
        document = {"record": self.record.record, "keys": keys, "input_path": path, "input_size": size,
                    "input_checksum": checksum}
        try:
            target = local_path(SIDECAR_NAME)
            with atomic_open(target) as fp:
                json.dump(document, fp, sort_keys=True, default=str)
        except OSError as error:
            logger.warning("could not write the provenance of %s: %s", member.task_id, error)
            return None
        return target
