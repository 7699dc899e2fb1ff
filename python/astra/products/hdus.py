"""The HDUs of the named products, as the SDSS datamodel lists them: one per instrument (and observatory).

* ``astraAllStar<Method>`` and ``astraAllVisit<Method>`` (``datamodel/products/md/astraAllStar<Pipeline>.md``):
  HDU 0 summary only, HDU 1 ``BOSS``, HDU 2 ``APOGEE``;
* ``mwmAllStar`` and ``mwmAllVisit``: HDU 0 summary only, HDU 1 ``BOSS/APO``, 2 ``BOSS/LCO``,
  3 ``APOGEE/APO``, 4 ``APOGEE/LCO``, as the issue asked and as ``mwmStar.md`` (DR19, DR20) splits
  its HDUs. The datamodel is ambiguous here: ``mwmAllStar.md`` and ``mwmAllVisit.md`` (IPL3,
  0.5.0) list two table HDUs, BOSS then APOGEE, while their primary ``COMMENT`` cards name these
  four (see ``docs/commands.rst``).

Each HDU holds the rows of the catalogue tables of its instrument (:func:`hdu_condition`): an
APOGEE table's rows by their ``telescope`` (``lco25m`` is Las Campanas, the others Apache Point),
a BOSS table's by their ``observatory`` (``OBSERVAT``; SDSS-III/IV files have none: Apache
Point), and an mwmStar/mwmVisit file's (which may hold both instruments) in every HDU whose
instrument and observatory it has spectra of (``n_boss_apo > 0``, ...). An HDU with no rows is
written all the same, with its columns.
"""

import dataclasses

import peewee
import astra.datamodels
from astra.models.mwm import MWM_COUNT_COLUMNS

__all__ = ["ProductHDU", "METHOD_HDUS", "CATALOGUE_HDUS", "product_hdus", "hdu_condition", "table_instrument"]

_OBSERVATORY_NAMES = {"APO": "Apache Point Observatory", "LCO": "Las Campanas Observatory"}


@dataclasses.dataclass(frozen=True)
class ProductHDU:
    """One table HDU of a named product.

    :param extname: its ``EXTNAME`` (``"BOSS"``, ``"APOGEE/LCO"``).
    :param instrument: ``"BOSS"`` or ``"APOGEE"`` (the ``INSTRMNT`` card).
    :param observatory: ``"APO"``, ``"LCO"`` (the ``OBSRVTRY`` card), or ``None`` for both.
    """

    extname: str
    instrument: str
    observatory: object = None

    @property
    def description(self):
        """``"BOSS spectra"``, ``"APOGEE spectra taken at Las Campanas Observatory"``: the primary ``COMMENT``."""
        text = f"{self.instrument} spectra"
        if self.observatory:
            text += f" taken at {_OBSERVATORY_NAMES[self.observatory]}"
        return text


#: The HDUs of ``astraAllStar<Method>`` and ``astraAllVisit<Method>``.
METHOD_HDUS = (ProductHDU("BOSS", "BOSS"), ProductHDU("APOGEE", "APOGEE"))
#: The HDUs of ``mwmAllStar`` and ``mwmAllVisit``.
CATALOGUE_HDUS = (
    ProductHDU("BOSS/APO", "BOSS", "APO"),
    ProductHDU("BOSS/LCO", "BOSS", "LCO"),
    ProductHDU("APOGEE/APO", "APOGEE", "APO"),
    ProductHDU("APOGEE/LCO", "APOGEE", "LCO"),
)


def product_hdus(product):
    """The :class:`ProductHDU` list of a product (:class:`~astra.products.names.Product`)."""
    return CATALOGUE_HDUS if product.kind == "catalogue" else METHOD_HDUS


def table_instrument(table):
    """``"APOGEE"``, ``"BOSS"``, or ``None`` for a table whose rows may hold both (mwmStar, mwmVisit)."""
    found = {astra.datamodels.get(name).instrument for name in table.data_models()}
    return found.pop().upper() if len(found) == 1 and None not in found else None


def _mwm_counts(table, hdu):
    """The count columns of an mwm table that hold spectra of ``hdu``'s instrument (and observatory)."""
    wanted = []
    for column in MWM_COUNT_COLUMNS:  # n_boss_apo, n_boss_lco, n_apogee_apo, n_apogee_lco
        _, instrument, observatory = column.split("_")
        if instrument.upper() == hdu.instrument and (hdu.observatory is None or observatory.upper() == hdu.observatory):
            wanted.append(table._meta.fields[column])
    return wanted


def hdu_condition(table, hdu):
    """Which rows of catalogue table ``table`` belong in ``hdu``.

    :returns: ``True`` (every row), ``None`` (no row: the table is of the other instrument), or a
        peewee condition on the table's columns.
    """
    instrument = table_instrument(table)
    if instrument is None:
        counts = _mwm_counts(table, hdu) if all(c in table._meta.fields for c in ("n_boss_apo", "n_apogee_apo")) else []
        if not counts:
            return None
        condition = counts[0] > 0
        for field in counts[1:]:
            condition = condition | (field > 0)
        return condition
    if instrument != hdu.instrument:
        return None
    if hdu.observatory is None:
        return True
    if "telescope" in table._meta.fields:
        at_lco = peewee.fn.LOWER(peewee.fn.COALESCE(table.telescope, "")).startswith("lco")
    elif "observatory" in table._meta.fields:
        at_lco = peewee.fn.UPPER(peewee.fn.COALESCE(table.observatory, "")) == "LCO"
    else:
        return True if hdu.observatory == "APO" else None
    return at_lco if hdu.observatory == "LCO" else ~at_lco
