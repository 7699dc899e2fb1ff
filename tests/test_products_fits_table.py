"""astra.products.fits_table: typed arrays, chunked fetching, cards that fit, atomic writes."""

import datetime
import warnings

import numpy as np
import pytest
from astropy.io import fits

from astra.database import ensure_table, get_database
from astra.fields import ArrayField, BigIntegerField, BooleanField, DateTimeField, FloatField, TextField
from astra.models.source import Source
from astra.products.fits_table import INT_NULL, fetch_arrays, missing_array, typed_array, write_table


def _field(kind, name, **kwargs):
    field = kind(null=True, help_text=f"The {name}", **kwargs)
    field.name = field.column_name = name
    return field


FIELDS = {
    "x": _field(FloatField, "x", unit="K"),
    "n": _field(BigIntegerField, "n"),
    "ok": _field(BooleanField, "ok"),
    "when": _field(DateTimeField, "when"),
    "text": _field(TextField, "text"),
    "values": _field(ArrayField, "values"),
}


def test_typed_and_missing_arrays():
    assert np.isnan(typed_array(FIELDS["x"], [1.5, None])[1])
    assert list(typed_array(FIELDS["n"], [3, None])) == [3, INT_NULL]
    assert list(typed_array(FIELDS["ok"], [True, None])) == [True, False]
    when = datetime.datetime(2026, 12, 1, 12, 0, 5, 250000)
    assert list(typed_array(FIELDS["when"], [when, None])) == [b"2026-12-01 12:00:05.250000", b""]
    assert list(typed_array(FIELDS["text"], ["é", "a"])) == [b"?", b"a"]  # FITS text is ASCII
    arrays = typed_array(FIELDS["values"], ["[1.0, null]", None])
    assert arrays[0][0] == 1.0 and np.isnan(arrays[0][1]) and len(arrays[1]) == 0
    for name, field in FIELDS.items():
        empty, missing = typed_array(field, [None, None]), missing_array(field, 2)
        assert len(empty) == len(missing) == 2, name
        if name == "values":
            assert [len(a) for a in missing] == [0, 0]
        elif name == "x":
            assert np.isnan(missing).all()
        else:
            assert list(empty) == list(missing), name


def test_fetch_arrays_reads_in_chunks(db_url):
    db = get_database()
    ensure_table(Source)
    Source.insert_many([{"pk": i, "sdss_id": i if i % 2 else None, "ra": i / 10} for i in range(1, 12)]).execute()
    query = Source.select(Source.pk, Source.sdss_id, Source.ra).order_by(Source.pk)
    fields = [Source.pk, Source.sdss_id, Source.ra]
    count, (pk, sdss_id, ra) = fetch_arrays(db, query, fields, chunk=4)
    assert count == 11 and list(pk) == list(range(1, 12))
    assert list(sdss_id[:3]) == [1, INT_NULL, 3] and ra[-1] == pytest.approx(1.1)
    count, arrays = fetch_arrays(db, query.where(Source.pk > 100), fields)
    assert count == 0 and [len(a) for a in arrays] == [0, 0, 0]


def test_write_table_cards_columns_and_refusal(tmp_path):
    path = tmp_path / "sub" / "t.fits"
    columns = [(name, field, typed_array(field, values)) for (name, field), values in zip(
        FIELDS.items(), [[1.0, None], [1, None], [True, False], [None, None], ["a", None], [[1.0], None]])]
    long_value = "A," * 30
    cards = [("SHORT", "x", "A comment"), ("WIDE", "y" * 60, "A comment that does not fit beside the value"),
             ("LONG", long_value, "Continued")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns when it has to cut a comment itself
        write_table(path, cards, columns, "TEST", categories=[("Group", "n")], comments=["Filter: x = 1"])
    with fits.open(path) as hdul:
        header, table = hdul[0].header, hdul[1]
        assert header["SHORT"] == "x" and header.comments["SHORT"] == "A comment"
        assert header["WIDE"] == "y" * 60 and header.comments["WIDE"] == "A com"  # cut to fit the card
        assert header["LONG"] == long_value and list(header["COMMENT"]) == ["Filter: x = 1"]
        assert table.name == "TEST" and table.columns.names == list(FIELDS)
        assert table.header["TUNIT1"] == "K" and table.header.comments["TTYPE2"] == "The n"
        assert table.header["TNULL2"] == INT_NULL
        keys = [c.keyword for c in table.header.cards]
        assert table.header.cards[keys.index("TTYPE2") - 1].value == "Group"
        assert list(table.data["text"]) == ["a", ""]
    with pytest.raises(FileExistsError, match="use --overwrite"):
        write_table(path, cards, columns, "TEST")
    write_table(path, [], columns[:1], "AGAIN", overwrite=True)
    assert fits.getheader(path, 1)["EXTNAME"] == "AGAIN"


def test_a_gz_name_is_written_compressed(tmp_path):
    field = FIELDS["text"]
    path = tmp_path / "t.fits.gz"
    write_table(path, [("KEY", "v", "")], [("text", field, typed_array(field, ["a", "b"]))], "GZ",
                categories=[("Group", "text")])
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic
    with fits.open(path) as hdul:
        assert list(hdul[1].data["text"]) == ["a", "b"] and hdul[0].header["KEY"] == "v"
        cards = list(hdul[1].header.cards)
        assert cards[[c.keyword for c in cards].index("TTYPE1") - 1].value == "Group"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.fits.gz"]  # no temporary left
