"""Reading provenance back: the rows a selection names, their records, the command that
reproduces one result (``astra provenance`` and the web results page).

A selection is a ``spectrum_pk`` (a number; for a model without that column, its primary key)
or ``column=value``. A product (``astra create``'s FITS file, or a result file written in files
mode) is read with its ``PROVENANCE`` HDU.
"""

import json
import os
import shlex

from astra.database.connection import get_database
from astra.provenance.classes import member_provenance, provenance_directory
from astra.provenance.columns import PROVENANCE_COLUMNS
from astra.provenance.table import records_of

__all__ = ["select_rows", "product_rows", "reproduce_command", "format_provenance", "describe_rows", "MOST_ROWS"]

_NOT_KEYS = {"provenance_pk", "input_size", "input_checksum", "input_path", "release"}

#: The most rows one selection prints.
MOST_ROWS = 20


def _column_and_value(model_columns, selection, default):
    name, eq, value = str(selection).partition("=")
    if not eq:
        name, value = default, selection
    name = name.strip()
    if name not in model_columns:
        raise ValueError(f"no column {name!r} (columns: {', '.join(model_columns)})")
    return name, value.strip()


def select_rows(model, selection, db=None):
    """The rows of results ``model`` that ``selection`` names (at most :data:`MOST_ROWS`) and the
    provenance records they reference.

    :param model: a results model.
    :param selection: ``"123"`` (a ``spectrum_pk``, or the primary key) or ``"column=value"``.
    :param db: the database (default: the bound one).
    :returns: ``(rows as dicts of column to value, {provenance_pk: record})``.
    :raises ValueError: naming an unknown column.
    """
    db = db if db is not None else get_database()
    fields = model._meta.fields
    default = "spectrum_pk" if "spectrum_pk" in fields else model._meta.primary_key.name
    name, value = _column_and_value(list(fields), selection, default)
    field = fields[name]
    with db.bind_ctx([model], bind_refs=False, bind_backrefs=False):
        query = (model.select().where(field == field.db_value(_typed(field, value)))
                 .order_by(model._meta.primary_key).limit(MOST_ROWS))
        rows = [dict(row.__data__) for row in query]
    return rows, records_of([r.get("provenance_pk") for r in rows], db=db)


def _typed(field, text):
    kind = getattr(field, "field_type", "")
    if kind in ("INT", "BIGINT", "AUTO", "BIGAUTO", "SMALLINT"):
        return int(text)
    if kind in ("FLOAT", "DOUBLE", "REAL"):
        return float(text)
    return text


def product_rows(path, selection):
    """The rows of a FITS product (or result file) that ``selection`` names, and its records.

    :param path: the FITS file.
    :param selection: as for :func:`select_rows` (``spectrum_pk`` by default); ``None``: every row.
    :returns: ``(rows as dicts, {provenance_pk: record})`` (records from its ``PROVENANCE`` HDU).
    :raises ValueError: for a file without a table that has the selection's column.
    """
    from astropy.io import fits

    rows, records = [], {}
    try:
        hdul = fits.open(path, memmap=False)
    except OSError:  # not a FITS file: a class-style output (JSON, ...) with its provenance file
        return sidecar_rows(path)
    with hdul:
        for hdu in hdul[1:]:
            if not isinstance(hdu, fits.BinTableHDU):
                continue
            names = [n.lower() for n in hdu.columns.names]
            if hdu.name == "PROVENANCE":
                for key, text in zip(hdu.data["provenance_pk"], hdu.data["record"]):
                    records[int(key)] = json.loads(text)
                continue
            try:
                name, value = _column_and_value(names, selection if selection is not None else "", "spectrum_pk")
            except ValueError:
                continue
            column = hdu.data[hdu.columns.names[names.index(name)]]
            for index in range(len(column)):
                if selection is None or str(_native(column[index])) == value or _same_number(column[index], value):
                    rows.append({n: _native(hdu.data[o][index]) for n, o in zip(names, hdu.columns.names)})
                    if len(rows) >= MOST_ROWS:
                        break
    if not records:
        return sidecar_rows(path)
    return rows, records


def sidecar_rows(path):
    """The provenance of a class-style file output, from its batch's provenance file
    (``<family dir>/provenance/*.jsonl``, :mod:`astra.provenance.classes`).

    :param path: an output file.
    :returns: ``(rows, {1: record})`` with one row: the input file's facts and the keys.
    :raises ValueError: when no provenance file describes it.
    """
    found = member_provenance(path)
    if found is None:
        raise ValueError(f"{path}: no PROVENANCE HDU, and no provenance file in "
                         f"{provenance_directory(path)} describes it")
    record, member = found
    row = dict(member.get("keys", {}), provenance_pk=1, input_size=member.get("input_size"),
               input_checksum=member.get("input_checksum"), input_path=member.get("input_path"))
    return [row], {1: record}


def _native(value):
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode().rstrip()
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value


def _same_number(value, text):
    try:
        return float(_native(value)) == float(text)
    except (TypeError, ValueError):
        return False


def _option(name, value):
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (list, dict)):
        value = json.dumps(value)
    return f"--{name.replace('_', '-')} {shlex.quote(str(value))}"


def reproduce_command(record, row, spectrum_model=None):
    """The command that recomputes this one result with the parameters that made it.

    :param record: the row's provenance record.
    :param row: the row (a dict with ``spectrum_pk`` for a ``@task`` result).
    :param spectrum_model: the catalogue model's class name (``@task`` results).
    :returns: a shell command line, or ``None`` when the record's method style has none.
    """
    params = " ".join(_option(k, v) for k, v in sorted(record.get("parameters", {}).items()))
    if record.get("kind") == "class":
        keys = " ".join(_option(k, v) for k, v in sorted(row.items()) if k not in _NOT_KEYS)
        return (f"astra run {record['method']} --release {shlex.quote(str(record.get('release')))} {keys}"
                + (f" {params}" if params else "") + "   # after removing its outputs: the same identity, the same files")
    if record.get("kind") == "task" and row.get("spectrum_pk") is not None:
        pk = int(row["spectrum_pk"])
        model = f" {spectrum_model}" if spectrum_model else ""
        return (f"astra run {record['method']}{model} --spectrum-pk-range {pk} {pk} --force"
                + (f" {params}" if params else ""))
    return None


def describe_rows(rows, records, catalogue_model_of=None):
    """The text for ``rows`` with their ``records``: one block per row, with the command that
    reproduces a ``@task`` result.

    :param rows: rows as dicts.
    :param records: ``{provenance_pk: record}``.
    :param catalogue_model_of: a function of ``(record, spectrum_pk)`` giving the catalogue model's
        class name for the command (``None``: the command names none).
    """
    blocks = []
    for row in rows:
        record = records.get(row.get("provenance_pk"))
        command = None
        if record is not None and record.get("kind") == "task" and row.get("spectrum_pk") is not None:
            model = catalogue_model_of(record, row["spectrum_pk"]) if catalogue_model_of else None
            command = reproduce_command(record, row, model)
        elif record is not None and record.get("kind") == "class":
            command = reproduce_command(record, row)
        blocks.append(format_provenance(row, record, command))
    return "\n\n".join(blocks)


def format_provenance(row, record, command=None):
    """The text ``astra provenance`` prints for one row.

    :param row: the row as a dict.
    :param record: its provenance record (``None``: written before provenance was recorded).
    :param command: the command that reproduces it, if any.
    """
    lines = []
    ident = ", ".join(f"{k}={row[k]}" for k in ("task_pk", "id", "spectrum_pk", "task_id") if row.get(k) is not None)
    lines.append(f"result: {ident}")
    facts = {k: row.get(k) for k in PROVENANCE_COLUMNS if k != "provenance_pk"}
    if row.get("spectrum_mtime") is not None:
        facts["spectrum_mtime"] = row["spectrum_mtime"]
    lines.append("input file: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    if record is None:
        lines.append("provenance: none recorded (written before Astra recorded provenance)")
        return "\n".join(lines)
    lines.append(f"provenance_pk: {row.get('provenance_pk')}")
    lines.append(f"method: {record.get('method')} ({record.get('kind')})")
    lines.append("parameters: " + json.dumps(record.get("parameters", {}), sort_keys=True))
    if record.get("path_digests"):
        lines.append("path digests: " + json.dumps(record["path_digests"], sort_keys=True))
    code = record.get("code", {})
    lines.append(f"code: module {code.get('module')} ({code.get('module_digest')}), package {code.get('package')} "
                 f"{code.get('package_version')}, git commit {code.get('git_commit')}, astra {code.get('astra_version')}")
    lines.append(f"host: {record.get('host')}; run: {record.get('run')}; python {record.get('python')}")
    if command:
        lines.append(f"reproduce: {command}")
    return "\n".join(lines)
