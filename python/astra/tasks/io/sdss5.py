"""Data-model file tasks for species that exist only in SDSS-V releases.

apStar and apVisit files of SDSS-V releases (healpix layout) use
:class:`~astra.tasks.io.sdss4.ApStarFile` and :class:`~astra.tasks.io.sdss4.ApVisitFile` with an
SDSS-V ``release`` (``dr19``, ``dr20``, ``ipl3``, ``sdsswork``, ...).
"""

from astra.tasks.io.base import SDSSDataModelTask, key

__all__ = ["MwmStarFile", "MwmVisitFile", "SpecLiteFile", "SpecFullFile"]


class _MwmFile(SDSSDataModelTask):
    """Keys of the Milky Way Mapper (mwmStar/mwmVisit) files made by Astra itself."""

    v_astra = key("Astra version that wrote the file, e.g. 0.6.0")
    sdss_id = key("SDSS-V identifier (ipl3 and later)", int)
    cat_id = key("SDSS-V catalog identifier (ipl1, ipl2)", int)
    component = key("multiple-system component, usually empty (ipl1, ipl2)")
    run2d = key("BOSS reduction version (ipl1, ipl2)")
    apred = key("APOGEE reduction version (ipl1, ipl2)")


class MwmStarFile(_MwmFile):
    """All combined spectra of one source (mwmStar), BOSS and APOGEE, from every telescope.

    :param release: e.g. ``dr19``, ``ipl3``, ``sdsswork``.
    :param v_astra: Astra version.
    :param sdss_id: SDSS identifier (``cat_id``, ``component``, ``run2d`` and ``apred`` in
        ipl1/ipl2).
    """

    sdss_data_model_name = "mwmStar"


class MwmVisitFile(_MwmFile):
    """All visit spectra of one source (mwmVisit), BOSS and APOGEE, resampled to a common grid.

    :param release: e.g. ``dr19``, ``ipl3``, ``sdsswork``.
    :param v_astra: Astra version.
    :param sdss_id: SDSS identifier.
    """

    sdss_data_model_name = "mwmVisit"


class _BossSpecFile(SDSSDataModelTask):
    """Keys of the SDSS-V BOSS spectra (specLite/specFull)."""

    run2d = key("BOSS reduction version, e.g. v6_1_3")
    fieldid = key("field identifier (padded to six digits in the path)")
    mjd = key("modified Julian date", int)
    catalogid = key("SDSS-V catalog identifier", int)


class SpecLiteFile(_BossSpecFile):
    """An SDSS-V BOSS spectrum without the per-exposure HDUs (specLite).

    :param release: e.g. ``dr18``, ``dr19``, ``sdsswork``.
    :param run2d: reduction version.
    :param fieldid: field.
    :param mjd: modified Julian date.
    :param catalogid: catalog identifier.
    """

    sdss_data_model_name = "specLite"


class SpecFullFile(_BossSpecFile):
    """An SDSS-V BOSS spectrum with the per-exposure HDUs (specFull).

    :param release: e.g. ``dr18``, ``dr19``, ``sdsswork``.
    :param run2d: reduction version.
    :param fieldid: field.
    :param mjd: modified Julian date.
    :param catalogid: catalog identifier.
    """

    sdss_data_model_name = "specFull"
