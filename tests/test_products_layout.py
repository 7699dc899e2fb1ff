"""astra.products.layout: the columns of the named products, their groups and their names."""

import peewee

from astra.contrib.rocket import RocketSNR
from astra.fields import FloatField, TextField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum
from astra.models.boss import BossVisitSpectrum
from astra.models.mwm import MwmStarSpectrum, MwmVisitSpectrum
from astra.models.pipeline import PipelineOutputMixin
from astra.models.source import Source
from astra.products.layout import level_tables, product_columns


class Located(PipelineOutputMixin):
    """Results with columns named like the catalogue's."""

    ra = FloatField(null=True, help_text="Fitted right ascension")
    obj = TextField(null=True, help_text="Fitted object name")


def test_levels():
    assert ApogeeCoaddedSpectrumInApStar in level_tables("star") and MwmStarSpectrum in level_tables("star")
    assert {ApogeeVisitSpectrum, BossVisitSpectrum, MwmVisitSpectrum} <= set(level_tables("visit"))
    assert not set(level_tables("star")) & set(level_tables("visit"))


def test_method_product_groups_and_names():
    columns = product_columns(level_tables("star"), RocketSNR)
    names = [c.name for c in columns]
    assert len(names) == len(set(names))
    assert [c.name for c in columns if c.category] == ["source_pk", "spectrum_pk", "task_pk", "v_astra",
                                                       "pipeline_flags", "snr"]
    assert names.index("dec") < names.index("spectrum_pk") < names.index("obj") < names.index("task_pk")
    assert "spectrum_v_astra" in names and "v_astra" in names  # mwmStar's key beside the results' version
    assert all(c.source is None for c in columns[names.index("task_pk"):])  # from the results table


def test_a_results_column_named_like_the_catalogue_keeps_its_name():
    names = [c.name for c in product_columns(level_tables("star"), Located)]
    assert {"ra", "source_ra", "obj", "spectrum_obj"} <= set(names)
    assert names.index("source_ra") < names.index("spectrum_obj") < names.index("ra")


def test_catalogue_product_has_the_files_and_headers():
    columns = product_columns(level_tables("visit"))
    names = [c.name for c in columns]
    assert {"path", "file_mtime", "snr", "spectrum_ra", "plateid", "fiber", "exptime", "n_boss_apo"} <= set(names)
    assert [c.name for c in columns if c.category] == ["source_pk", "spectrum_pk", "path"]
    catalogid = columns[names.index("catalogid")]
    expression = catalogid.expression(BossVisitSpectrum)  # the file's catalogid, else the source's
    assert isinstance(expression, peewee.Function) and expression.name.upper() == "COALESCE"
    assert catalogid.expression(ApogeeVisitSpectrum) is Source.catalogid
    assert columns[names.index("spectrum_table")].expression(BossVisitSpectrum) == "table"
    assert columns[names.index("plateid")].expression(ApogeeVisitSpectrum) is None
