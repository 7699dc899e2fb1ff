"""``astra.fields``: SDSS Astra's field names, the same objects as ``astra.database.fields``."""

import pytest

import astra.database.fields as database_fields
import astra.fields
from astra.database.models import ModelDefinitionError
from astra.models.pipeline import PipelineOutputMixin


def test_fields_are_the_database_fields_not_copies():
    for name in ("FloatField", "IntegerField", "BigIntegerField", "TextField", "BooleanField",
                 "DateTimeField", "ArrayField", "BitField", "Flag", "flag", "MAX_HELP_TEXT"):
        assert getattr(astra.fields, name) is getattr(database_fields, name)
    assert astra.fields.MAX_HELP_TEXT == 47


def test_one_import_surface_for_the_field_types():
    """astra.fields is the one module; its old name is the same module; astra.database says where."""
    import warnings

    import astra.database

    assert database_fields is astra.fields
    for name in ("FloatField", "BitField", "flag"):
        assert name not in astra.database.__all__
    with pytest.warns(DeprecationWarning, match="from astra.fields import FloatField"):
        from astra.database import FloatField
    assert FloatField is astra.fields.FloatField
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from astra.database import BaseResult  # noqa: F401  (not a field type: no warning)
    with pytest.raises(AttributeError):
        astra.database.NoSuchName


def test_bitfield_flags_and_units():
    class Flagged(PipelineOutputMixin):
        teff = astra.fields.FloatField(null=True, unit="K", help_text="Effective temperature")
        result_flags = astra.fields.BitField(default=0)
        flag_a = result_flags.flag(2**0, help_text="first")
        flag_b = result_flags.flag(2**3, help_text="second")

    row = Flagged(flag_b=True)
    assert row.result_flags == 8 and row.flag_b and not row.flag_a
    row.flag_a = True
    assert row.result_flags == 9
    assert Flagged.teff.unit == "K"
    assert list(Flagged.flag_fields()) == ["flag_failed", "flag_a", "flag_b"]


def test_help_text_longer_than_a_fits_comment_is_refused():
    with pytest.raises(ModelDefinitionError, match="more than the 47"):

        class TooLong(PipelineOutputMixin):
            teff = astra.fields.FloatField(null=True, help_text="x" * 48)


def test_a_flag_bit_used_twice_is_refused():
    with pytest.raises(ModelDefinitionError, match="already"):

        class Twice(PipelineOutputMixin):
            result_flags = astra.fields.BitField(default=0)
            flag_a = result_flags.flag(2**1, help_text="a")
            flag_b = result_flags.flag(2**1, help_text="b")


def test_a_trailing_unit_in_the_help_text_is_the_unit(tmp_path, db_url):
    from astropy.io import fits

    from astra.products import create_summary

    class Units(PipelineOutputMixin):
        teff = astra.fields.FloatField(null=True, help_text="Effective temperature [K]")
        logg = astra.fields.FloatField(null=True, help_text="Surface gravity [dex]")
        v_rad = astra.fields.FloatField(null=True, help_text="Radial velocity [km/s]")
        fe_h = astra.fields.FloatField(null=True, help_text="Metallicity [Fe/H]")  # a ratio, not a unit
        note = astra.fields.TextField(null=True, help_text="A note [see the guide]")  # not a unit
        plx = astra.fields.FloatField(null=True, unit="mas", help_text="Parallax [arcsec]")  # unit= wins

    assert (Units.teff.unit, Units.logg.unit, Units.v_rad.unit) == ("K", "dex", "km/s")
    assert (Units.fe_h.unit, Units.note.unit, Units.plx.unit) == (None, None, "mas")
    from astra.database.migrations import ensure_table

    ensure_table(Units)
    Units.create(spectrum_pk=1, teff=5000.0, logg=4.0, v_rad=1.0, plx=2.0)
    path, _ = create_summary(Units, str(tmp_path / "units.fits"))
    with fits.open(path) as hdul:
        columns = {c.name: c.unit for c in hdul[1].columns}
    assert (columns["teff"], columns["logg"], columns["v_rad"], columns["plx"]) == ("K", "dex", "km/s", "mas")
    assert columns["fe_h"] is None and columns["note"] is None
