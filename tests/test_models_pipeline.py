"""``PipelineOutputMixin``: the columns, the unique (spectrum, major.minor) and the upsert."""

import datetime
import time

import peewee
import pytest

import astra
from astra.database import upsert_rows
from astra.database.models import ModelDefinitionError
from astra.fields import BitField, FloatField
from astra.models.pipeline import PipelineOutputMixin, file_mtime_seconds, major_minor
from task_methods import Rocket


class _Spectrum:
    def __init__(self, spectrum_pk, source_pk=None, file_mtime=None):
        self.spectrum_pk = spectrum_pk
        self.source_pk = source_pk
        self.file_mtime = file_mtime


def test_the_mixin_columns():
    names = set(Rocket._meta.fields)
    assert {"task_pk", "source_pk", "spectrum_pk", "v_astra", "v_astra_major_minor", "created",
            "modified", "t_elapsed", "t_overhead", "tag"} <= names
    assert Rocket._meta.primary_key.name == "task_pk"
    assert (("spectrum_pk", "v_astra_major_minor"), True) in Rocket._meta.indexes
    assert Rocket._meta.table_name == "rocket"


def test_category_headers_come_from_the_source():
    headers = dict((first, name) for name, first in Rocket.category_headers())
    assert headers["teff"] == "Stellar Parameters" and headers["rchi2"] == "Summary Statistics"
    assert headers["task_pk"] == "Identifiers"


def test_from_spectrum_copies_keys_and_sets_flags():
    result = Rocket.from_spectrum(_Spectrum(7, 70, 1.5e9), teff=5000, flag_low_snr=True)
    assert (result.spectrum_pk, result.source_pk, result.spectrum_mtime) == (7, 70, 1.5e9)
    assert result.teff == 5000 and result.flag_low_snr and result.result_flags == 1
    assert result.v_astra == astra.__version__ and result.v_astra_major_minor == major_minor()
    with pytest.raises(TypeError, match="no column or flag named 'teff_k'"):
        Rocket.from_spectrum(_Spectrum(7), teff_k=5000)


def test_file_mtime_from_a_timestamp():
    when = datetime.datetime(2020, 1, 1, 0, 0, 1)
    assert file_mtime_seconds(_Spectrum(1, file_mtime=when)) == 1577836801.0


def test_method_columns_must_be_nullable():
    with pytest.raises(ModelDefinitionError, match="nullable"):

        class NotNull(PipelineOutputMixin):
            teff = FloatField(help_text="Effective temperature")


def _row(spectrum_pk, teff):
    result = Rocket.from_spectrum(_Spectrum(spectrum_pk), teff=teff)
    row = dict(result.__data__)
    row["modified"] = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return row


def test_upsert_keeps_primary_key_and_created(db_url):
    upsert_rows(Rocket, [_row(1, 4000.0), _row(2, 4100.0)])
    before = {r.spectrum_pk: (r.task_pk, r.created) for r in Rocket.select()}
    time.sleep(0.01)
    upsert_rows(Rocket, [_row(2, 4200.0), _row(3, 4300.0)])
    after = {r.spectrum_pk: r for r in Rocket.select()}
    assert sorted(after) == [1, 2, 3]
    assert (after[2].task_pk, after[2].created) == before[2]
    assert after[2].teff == 4200.0 and after[2].modified > before[2][1]


def test_one_row_per_spectrum_and_major_minor(db_url):
    upsert_rows(Rocket, [_row(1, 4000.0)])
    with pytest.raises(peewee.IntegrityError):
        Rocket.insert(spectrum_pk=1, v_astra_major_minor=major_minor()).execute()
    Rocket.insert(spectrum_pk=1, v_astra_major_minor="0.0").execute()  # another version: a new row
    assert Rocket.select().where(Rocket.spectrum_pk == 1).count() == 2
