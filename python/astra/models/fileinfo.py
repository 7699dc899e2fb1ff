"""What ``astra migrate`` learns from one file: typed keys, header values, its source, or why it is bad.

:func:`file_row` is the work done per file, in a worker process when there are many. It reads
only headers, with the lean reader (:mod:`astra.tools.spectrum.lean_fits`), and checks the
file's HDU layout against its data model. A file the lean reader does not handle (compressed,
oddly laid out) is read with the data model's full loader instead, which also gives the
precise reason when the file is broken. It never raises for a bad file: the row says why.
"""

import os
import stat

import astra.datamodels
from astra.datamodels.layout import Structure
from astra.tools.spectrum.errors import SpectrumReadError
from astra.tools.spectrum.lean_fits import NotLean, SkimmedHDU, skim, table_cell

__all__ = ["file_row", "typed_keys", "data_model", "BadKeyError"]


class BadKeyError(ValueError):
    """A key read from a file's path does not fit its column (text where a number belongs)."""


def _key_kinds(model):
    """``column -> True`` for the integer columns of ``model``, ``False`` for the others (cached)."""
    kinds = model.__dict__.get("_astra_key_kinds")
    if kinds is None:
        import peewee

        kinds = {name: isinstance(field, peewee.IntegerField) for name, field in model._meta.fields.items()}
        setattr(model, "_astra_key_kinds", kinds)
    return kinds


def typed_keys(model, keys):
    """The data-model keys as the model's column types (integers for integer keys).

    :param model: a spectrum table (:class:`~astra.models.spectrum.SpectrumMixin` subclass).
    :param keys: a dict of key name to text (or typed) value.
    :returns: a dict of key name to value.
    :raises BadKeyError: naming the key whose value is not of its column's type.
    """
    out = {}
    kinds = _key_kinds(model)
    for name, value in keys.items():
        integer = kinds.get(name)
        if integer is None or value is None or value == "":
            continue
        if integer:
            if not isinstance(value, int):
                text = str(value).strip()
                if not text.lstrip("-").isdigit():
                    raise BadKeyError(f"key {name}={value!r} is not an integer")
                value = int(text)
        elif type(value) is not str:
            value = str(value)
        out[name] = value
    return out


def data_model(name):
    """The :mod:`astra.datamodels` object of a data model.

    :param name: e.g. ``"apStar"``.
    """
    return astra.datamodels.get(name)


def _lean_values(model, model_of_file, path):
    """Header values and HDU structure through :func:`~astra.tools.spectrum.lean_fits.skim`.

    :raises NotLean: when the lean reader does not handle the file (the full reader then
        decides, and says why).
    :raises SpectrumReadError: when the HDU layout is not the data model's.
    """
    header, hdus = skim(path, model.wanted_keywords())
    model_of_file.check_structure(Structure(hdus), path)
    return header, hdus


def _astropy_structure(hdul):
    """A :class:`~astra.tools.spectrum.lean_fits.SkimmedHDU` for each HDU of an astropy file."""
    hdus = []
    for index, hdu in enumerate(hdul):
        h = hdu.header
        axes = tuple(h.get(f"NAXIS{k}", 0) for k in range(1, h.get("NAXIS", 0) + 1))
        xtension = "PRIMARY" if index == 0 else str(h.get("XTENSION", "")).strip()
        hdus.append(SkimmedHDU(index, xtension, h.get("BITPIX"), axes, None, None, header=h.copy()))
    return hdus


def _full_values(model, model_of_file, path):
    """Header values and HDU structure through astropy after the full loader's checks (slow)."""
    import warnings

    from astropy.io import fits

    with warnings.catch_warnings():  # the problem is recorded in the row, not warned about
        warnings.simplefilter("ignore")
        model_of_file.read_spectrum(path)  # every check: raises SpectrumReadError naming the problem
        with fits.open(path, memmap=False) as hdul:
            header = hdul[0].header.copy()
            hdus = _astropy_structure(hdul)
    return header, hdus


def _table_values(model, path, hdus, values):
    """Fill the columns of ``model.table_keywords`` the header left empty, from table cells.

    A column's entry is one ``(EXTNAME, table column)`` or a list of them, tried in order.
    """
    for column, places in model.table_keywords.items():
        if values.get(column) is not None:
            continue
        for extname, name in [places] if isinstance(places[0], str) else places:
            hdu = next((h for h in hdus if str(h.header.get("EXTNAME", "")).strip().upper() == extname.upper()), None)
            if hdu is None:
                continue
            try:
                value = table_cell(path, hdu, name)
            except KeyError:
                continue
            except NotLean:  # not a plain cell (or a file astropy read): astropy reads it
                value = _astropy_cell(path, hdu.index, name)
            values[column] = model.column_value(column, value)
            if values[column] is not None:
                break


def _astropy_cell(path, index, name):
    """The first-row value of column ``name`` of table HDU ``index``, through astropy (``None`` if absent)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        data = hdul[index].data
        if data is None or name.lower() not in [c.lower() for c in data.columns.names] or not len(data):
            return None
        value = data[name][0]
        return value.item() if getattr(value, "size", 1) == 1 and hasattr(value, "item") else None


def _empty_row(model):
    """The row of a file before it is read: every column ``None``, the file not flagged (cached)."""
    row = model.__dict__.get("_astra_empty_row")
    if row is None:
        row = dict.fromkeys(model.header_keywords)
        row.update(dict.fromkeys(model.key_names()))
        row.update(flag_bad_file=False, bad_file_reason=None, _source=None, _source_position=(None, None),
                   reader_version=model.READER_VERSION)
        setattr(model, "_astra_empty_row", row)
    return row


def _not_a_file(path):
    """Why ``path`` (named as a file of a data model) is not one, in the run path's words."""
    try:
        info = os.stat(path)
    except OSError as error:  # a symbolic link loop, a broken link
        return f"cannot read: {error.strerror or error}"
    return "is not a file (a directory)" if stat.S_ISDIR(info.st_mode) else "is not a file"


def file_row(model, data_model_name, release, path, keys, size, mtime):
    """The catalogue row of one file: keys, file facts, header values; or a bad-file row.

    :param model: the spectrum table.
    :param data_model_name: the file's data model, e.g. ``"apStar"``.
    :param release: the canonical release.
    :param path: the file.
    :param keys: its data-model keys (text values, as read from the path).
    :param size: its size in bytes, as stat saw it before reading.
    :param mtime: its modification time, as stat saw it before reading.
    :returns: a dict of column values, with ``_source`` (a source identifier or ``None``) and
        ``_source_position`` (``(ra, dec)``).
    """
    row = dict(_empty_row(model))
    row.update(release=release, data_model=data_model_name, path=path, file_size=size, file_mtime=mtime)
    try:
        typed = typed_keys(model, keys)
    except BadKeyError as error:
        row.update(flag_bad_file=True, bad_file_reason=str(error))
        return row
    row.update(typed)
    model_of_file = data_model(data_model_name)
    try:
        if size < 0:  # named as a file, not one (find.NOT_A_FILE): flagged, as the run path fails it
            raise SpectrumReadError(path, _not_a_file(path))
        if size == 0:
            raise SpectrumReadError(path, "empty file (0 bytes)")
        try:
            header, hdus = _lean_values(model, model_of_file, path)
        except (NotLean, OSError):
            header, hdus = _full_values(model, model_of_file, path)
        values = model.header_values(header)
        if model.table_keywords:
            _table_values(model, path, hdus, values)
        values.update(model.file_values(hdus))
    except SpectrumReadError as error:
        row.update(flag_bad_file=True, bad_file_reason=error.reason)
        return row
    except Exception as error:  # whatever else a broken file provokes, it fails only itself
        reason = f"cannot be read ({type(error).__name__}: {error})"
        row.update(flag_bad_file=True, bad_file_reason=reason)
        return row
    row.update(values)
    row["_source"] = model.source_identifier(typed, header)
    row["_source_position"] = (values.get("ra"), values.get("dec"))
    return row

