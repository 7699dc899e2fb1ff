"""Data-model file tasks for SDSS-IV (and the SDSS-V releases of the same species).

``ApVisitFile``, ``ApStarFile`` and ``AspcapStarFile`` work for every release sdss-access has for
their species: the SDSS-IV layout (``field``/``prefix``) and the SDSS-V layout (``healpix`` for
apStar, the telescope in apVisit names) are chosen by ``release``. Pass only the keys your
release needs (see :func:`astra.datamodels.paths.template_keys`); the others stay ``None``.
"""

from astra.tasks.io.base import SDSSDataModelTask, key

__all__ = ["ApVisitFile", "ApStarFile", "AspcapStarFile", "SpecFile"]

_APRED = "APOGEE reduction version, e.g. r12 (dr16), dr17, 1.3 (dr19)"
_TELESCOPE = "telescope: apo25m, lco25m or apo1m"
_FIELD = "APOGEE field name, e.g. 120-45"
_PREFIX = "file prefix: ap (APO) or as (LCO); derived from telescope when not given"
_OBJ = "2MASS-style object name, e.g. 2M00452143+1634446"


class ApVisitFile(SDSSDataModelTask):
    """An APOGEE visit spectrum (apVisit): one fibre of one plate on one night.

    :param release: e.g. ``dr13``, ``dr16``, ``dr17``, ``dr19``.
    :param apred: reduction version.
    :param telescope: ``apo25m``, ``lco25m`` or ``apo1m`` (dr12 and later).
    :param field: field name (dr16 and later).
    :param plate: plate (SDSS-V: configuration) number.
    :param mjd: modified Julian date of the visit.
    :param fiber: fibre number (written with three digits).
    :param prefix: ``ap``/``as`` (dr16, dr17); derived from ``telescope`` when omitted.
    """

    sdss_data_model_name = "apVisit"

    apred = key(_APRED)
    telescope = key(_TELESCOPE)
    field = key(_FIELD)
    plate = key("plate number", int)
    mjd = key("modified Julian date of the visit", int)
    fiber = key("fibre number", int)
    prefix = key(_PREFIX)


class ApStarFile(SDSSDataModelTask):
    """An APOGEE combined spectrum of one star (apStar): the combined and every visit spectrum.

    :param release: e.g. ``dr13``, ``dr16``, ``dr17``, ``dr19``, ``sdsswork``.
    :param apred: reduction version.
    :param apstar: ``stars`` (SDSS-IV).
    :param telescope: ``apo25m``, ``lco25m`` or ``apo1m``.
    :param field: field name (SDSS-IV).
    :param prefix: ``ap``/``as`` (SDSS-IV); derived from ``telescope`` when omitted.
    :param obj: object name.
    :param healpix: HEALPix pixel of the star (SDSS-V).
    """

    sdss_data_model_name = "apStar"

    apred = key(_APRED)
    apstar = key("apStar directory, usually 'stars'")
    telescope = key(_TELESCOPE)
    field = key(_FIELD)
    prefix = key(_PREFIX)
    obj = key(_OBJ)
    healpix = key("HEALPix pixel (SDSS-V releases)", int)


class AspcapStarFile(SDSSDataModelTask):
    """The ASPCAP best-fitting model and normalised spectrum of one star (aspcapStar).

    :param release: e.g. ``dr16``, ``dr17`` (``apred``, ``aspcap``, ``telescope``, ``field``,
        ``obj``) or ``dr13`` (``apred``, ``apstar``, ``aspcap``, ``results``, ``location``,
        ``obj``).
    """

    sdss_data_model_name = "aspcapStar"

    apred = key(_APRED)
    apstar = key("apStar directory, usually 'stars' (dr10-dr15)")
    aspcap = key("ASPCAP version, e.g. l33 (dr16)")
    results = key("ASPCAP results version (dr10-dr15)")
    location = key("location id (dr10-dr15)")
    telescope = key(_TELESCOPE)
    field = key(_FIELD)
    obj = key(_OBJ)


class SpecFile(SDSSDataModelTask):
    """An SDSS-IV (e)BOSS spectrum (spec), releases dr8 to dr17.

    For SDSS-V BOSS spectra use :class:`~astra.tasks.io.sdss5.SpecLiteFile` or
    :class:`~astra.tasks.io.sdss5.SpecFullFile`.

    :param release: e.g. ``dr13``, ``dr16``.
    :param run2d: BOSS reduction version, e.g. ``v5_10_0``.
    :param plateid: plate number.
    :param mjd: modified Julian date.
    :param fiberid: fibre number.
    """

    sdss_data_model_name = "spec"

    run2d = key("BOSS reduction version, e.g. v5_10_0")
    plateid = key("plate number", int)
    mjd = key("modified Julian date", int)
    fiberid = key("fibre number", int)
