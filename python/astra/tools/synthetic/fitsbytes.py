"""Minimal, fast FITS writing: header cards and HDUs rendered straight to bytes.

astropy's ``HDUList.writeto`` costs ~7 ms for a ten-HDU file, which is too slow for writing
tens of thousands of test files. The data models here only need plain image HDUs and simple
binary tables, whose byte layout is short to produce directly. Every file written this way is
checked against astropy in the tests.
"""

import os

import numpy as np

from astra.targets import atomic_open

__all__ = ["card", "header_bytes", "image_hdu", "table_hdu", "atomic_write"]

_BLOCK = 2880
_BITPIX = {"f4": -32, "f8": -64, "i2": 16, "i4": 32, "i8": 64, "u1": 8}


def _value(value):
    if isinstance(value, (bool, np.bool_)):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):>20d}"
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.12G}"
        if "." not in text and "E" not in text and "N" not in text:
            text += "."
        return f"{text:>20}"
    text = "'" + f"{str(value).replace(chr(39), chr(39) * 2):<8}" + "'"
    return f"{text:<20}"


def card(key, value=None, comment=""):
    """Render one 80-character header card.

    :param key: Keyword (at most 8 characters), or ``"HISTORY"``/``"COMMENT"``.
    :param value: bool, int, float or str; for HISTORY/COMMENT the text.
    :param comment: Comment after the value.
    :returns: An 80-character string.
    """
    if len(key) > 8:
        raise ValueError(f"FITS keyword {key!r} is longer than 8 characters")
    if key in ("HISTORY", "COMMENT", ""):
        return f"{key:<8}{value or ''}"[:80].ljust(80)
    text = f"{key:<8}= {_value(value)}"
    if comment:
        text += f" / {comment}"
    return text[:80].ljust(80)


def header_bytes(cards):
    """Join card strings, add END and pad to whole 2880-byte blocks.

    :param cards: Iterable of 80-character cards.
    :returns: ASCII bytes.
    """
    text = "".join(cards) + "END".ljust(80)
    text += " " * (-len(text) % _BLOCK)
    return text.encode("ascii")


def _pad(data):
    return data + b"\0" * (-len(data) % _BLOCK)


def image_hdu(array, cards=(), primary=False):
    """Render an image HDU (or primary HDU) with its data.

    :param array: A numpy array (float32/64, int16/32/64), or ``None`` for a header-only HDU.
    :param cards: Extra header cards (after the structural keywords).
    :param primary: Render as the primary HDU (SIMPLE) instead of an extension (XTENSION).
    :returns: Bytes of the header and the padded big-endian data.
    """
    head = [card("SIMPLE", True, "conforms to FITS standard")] if primary else [
        card("XTENSION", "IMAGE", "IMAGE extension")
    ]
    if array is None:
        head += [card("BITPIX", 16 if primary else 8, "bits per data value"), card("NAXIS", 0)]
        data = b""
    else:
        array = np.asarray(array)
        code = array.dtype.str[1:]
        head.append(card("BITPIX", _BITPIX[code], "Number of bits per data pixel"))
        head.append(card("NAXIS", array.ndim, "Number of data axes"))
        head += [card(f"NAXIS{i + 1}", n) for i, n in enumerate(array.shape[::-1])]
        data = _pad(array.astype(">" + code, copy=False).tobytes())
    if primary:
        head.append(card("EXTEND", True, "file may contain extensions"))
    else:
        head += [card("PCOUNT", 0, "No Group Parameters"), card("GCOUNT", 1, "One Data Group")]
    return header_bytes(head + list(cards)) + data


_TFORM = {"f4": "E", "f8": "D", "i2": "I", "i4": "J", "i8": "K", "u1": "B"}


def table_hdu(columns, n_rows, cards=(), extname=None):
    """Render a binary-table HDU.

    :param columns: List of ``(name, array)``; each array has ``n_rows`` rows (1-D for a
        scalar column, 2-D for a vector column). Strings become ``nA`` columns.
    :param n_rows: Number of rows (0 gives an empty table with the same columns).
    :param cards: Extra header cards.
    :param extname: EXTNAME, if any.
    :returns: Bytes of the HDU.
    """
    fields, forms, dims = [], [], []
    for name, values in columns:
        values = np.asarray(values)
        if values.dtype.kind in "SU":
            values = values.astype("S")
            width = max(values.dtype.itemsize, 1)
            fields.append((name, f"S{width}"))
            forms.append(f"{width}A")
            dims.append(None)
            continue
        code = values.dtype.str[1:]
        repeat = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
        fields.append((name, ">" + code, values.shape[1:]) if repeat > 1 else (name, ">" + code))
        forms.append(f"{repeat}{_TFORM[code]}" if repeat > 1 else _TFORM[code])
        dims.append(values.shape[1:] if values.ndim > 2 else None)
    table = np.zeros(n_rows, dtype=fields)
    if n_rows:
        for name, values in columns:
            table[name] = np.asarray(values).astype(table.dtype[name].base, copy=False)
    head = [
        card("XTENSION", "BINTABLE", "binary table extension"),
        card("BITPIX", 8, "array data type"),
        card("NAXIS", 2, "number of array dimensions"),
        card("NAXIS1", table.dtype.itemsize, "length of dimension 1"),
        card("NAXIS2", n_rows, "length of dimension 2"),
        card("PCOUNT", 0, "number of group parameters"),
        card("GCOUNT", 1, "number of groups"),
        card("TFIELDS", len(columns), "number of table fields"),
    ]
    for i, ((name, _), form, dim) in enumerate(zip(columns, forms, dims), 1):
        head += [card(f"TTYPE{i}", name), card(f"TFORM{i}", form)]
        if dim is not None:
            head.append(card(f"TDIM{i}", "(" + ",".join(str(d) for d in dim[::-1]) + ")"))
    if extname:
        head.append(card("EXTNAME", extname, "extension name"))
    return header_bytes(head + list(cards)) + _pad(table.tobytes())


def atomic_write(path, chunks):
    """Write bytes to ``path`` atomically: a temporary file in the same directory, renamed.

    :param path: Destination path; missing parent directories are created.
    :param chunks: Iterable of bytes objects, written in order.
    :returns: ``path``.
    """
    path = os.fspath(path)
    with atomic_open(path, "wb") as fp:
        for chunk in chunks:
            fp.write(chunk)
    return path
