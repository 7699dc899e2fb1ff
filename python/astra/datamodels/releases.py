"""What the SDSS data model says of each data model in each release, DR13 to DR20: one table.

Each :class:`ReleaseLayout` is one row of the table in ``docs/data-model.rst`` ("Every
release's layout"): the HDUs of a data model's files in a group of releases, the shape of their
spectra, where the object's position is, and the path template. The reader
(:mod:`astra.tools.spectrum`), the layout check (:meth:`~astra.datamodels.DataModel.check_structure`,
which ``astra migrate`` runs on every new file), and the synthetic writer
(:mod:`astra.tools.synthetic`) follow it. Sources: the public SDSS datamodel
(``sdss/datamodel``, ``datamodel/products/yaml/<name>.yaml`` and ``md/<name>.md``) and the
sdss-access templates it quotes; each row's ``source`` names the page it follows and says where
that page is silent or ambiguous.

A file whose shape no release allows fails alone, with a message naming the file, its shape
and the shapes each release allows (:func:`apstar_shapes`, :func:`describe_allowed`).
"""

import collections
import functools

__all__ = ["ReleaseLayout", "RELEASE_LAYOUTS", "layouts_of", "layout_for", "apstar_shapes", "describe_allowed",
           "APSTAR_NPIX"]

#: Pixels of the apStar rest-frame grid.
APSTAR_NPIX = 8575

#: One row of the table. ``model``: the data model; ``releases``: the releases (lower case)
#: it describes; ``name``: the layout's short name (what :func:`astra.tools.synthetic.write_apstar`
#: takes as ``layout``); ``hdus``: ``(index, kind, what)`` per HDU (``index`` ``"4+"`` for a
#: variable number of HDUs); ``single``: the flux shape of a one-visit apStar (``None``
#: elsewhere); ``dtypes``: numpy dtypes of the flux, error and bitmask images; ``position``:
#: the cards or columns of the object's position; ``path``: the path below the release's root;
#: ``source``: the SDSS datamodel page the row follows, and what that page does not say.
ReleaseLayout = collections.namedtuple(
    "ReleaseLayout", "model releases name hdus single dtypes position path source", defaults=("",)
)

_APSTAR_IMAGES = [
    (1, "IMAGE", "flux, 1e-17 erg/s/cm2/Angstrom"),
    (2, "IMAGE", "flux error"),
    (3, "IMAGE", "pixel bitmask"),
    (4, "IMAGE", "sky"),
    (5, "IMAGE", "sky error"),
    (6, "IMAGE", "telluric"),
    (7, "IMAGE", "telluric error"),
]
_APVISIT_IMAGES = [
    (1, "IMAGE (3, 4096)", "flux, chip 0 reddest"),
    (2, "IMAGE (3, 4096)", "flux error"),
    (3, "IMAGE (3, 4096)", "pixel bitmask"),
    (4, "IMAGE (3, 4096)", "wavelength (vacuum, Angstrom), decreasing along the pixels"),
    (5, "IMAGE (3, 4096)", "sky"),
    (6, "IMAGE (3, 4096)", "sky error"),
    (7, "IMAGE (3, 4096)", "telluric"),
    (8, "IMAGE (3, 4096)", "telluric error"),
    (9, "IMAGE (3, 14)", "wavelength coefficients"),
    (10, "IMAGE (3, 26)", "LSF coefficients"),
]
#: apVisit HDUs 1-10 are named in DR19 (the datamodel's apVisit.md, DR19 "added_hdus"), not before.
_APVISIT_DR19_NAMES = ("FLUX", "ERROR", "MASK", "WAVELENGTH", "SKY FLUX", "SKY ERROR", "TELLURIC",
                       "TELLURIC ERROR", "WAVE COEFFICIENTS", "LSF COEFFICIENTS")
_MWM_HDUS = [
    (0, "PRIMARY", "summary: SDSS_ID, V_ASTRA, RA, DEC, ... (no data)"),
    (1, "BINTABLE", "BOSS/APO spectra, one row each (empty when none)"),
    (2, "BINTABLE", "BOSS/LCO spectra"),
    (3, "BINTABLE", "APOGEE/APO spectra"),
    (4, "BINTABLE", "APOGEE/LCO spectra"),
]
_F32 = ("float32", "float32", "int16")
_F64 = ("float64", "float64", "int64")

#: The table, data model by data model, oldest releases first.
RELEASE_LAYOUTS = (
    ReleaseLayout(
        "apStar", ("dr13", "dr14", "dr15", "dr16"), "sdss4",
        [(0, "PRIMARY", "header: OBJID, RA, DEC, NVISITS, SNR, SNRVISn, SFILEn, ...")] + _APSTAR_IMAGES + [
            (8, "IMAGE (26,)", "LSF coefficients"),
            (9, "BINTABLE, 1 row", "visit RVs (FILE, FIBER, MJD, VHELIO, ...)"),
        ],
        (APSTAR_NPIX,), _F32, "RA/DEC (primary header)",
        "apogee/spectro/redux/{apred}/{apstar}/{telescope}/{field}/{prefix}Star-{apred}-{obj}.fits",
        "yaml/apStar.yaml, releases DR13-DR16: HDU 1-7 BITPIX -32 (HDU 3: 16), HDU 8 IMAGE (26,) float64 "
        "(DR12: 27), HDU 9 a table of per-visit arrays; one visit: \"there will only be one row\" (the real "
        "DR13 one-visit file here is 1-D, (8575,))",
    ),
    ReleaseLayout(
        "apStar", ("dr17",), "dr17",
        [(0, "PRIMARY", "header: OBJID, FIELD, RA, DEC, NVISITS, SNR, SNRVISn, SFILEn, ...")] + _APSTAR_IMAGES + [
            (8, "IMAGE, may have no data", "LSF"),
            (9, "BINTABLE, 1 row per visit", "visit RVs and CCFs (FILENAME, JD, SNR, VHELIO, CCF, ...)"),
            (10, "BINTABLE, 1 row", "RV and CCF of the combined spectrum"),
        ],
        (2, APSTAR_NPIX), _F64, "RA/DEC (primary header)",
        "apogee/spectro/redux/dr17/stars/{telescope}/{field}/apStar-dr17-{obj}.fits",
        "yaml/apStar.yaml, release DR17 (example dr17/stars/apo25m/K01_082+17/apStar-dr17-2M19085185+5058401.fits, "
        "NVISITS 2: HDU 1-7 BITPIX -64 (4, 8575), HDU 3 BITPIX 64, HDU 8 IMAGE NAXIS 0, HDU 9 2 rows, HDU 10 "
        "1 row); silent on one visit: (2, 8575) is what the issue saw on real DR17 files",
    ),
    ReleaseLayout(
        "apStar", ("dr19", "dr20"), "sdss5",
        [(0, "PRIMARY", "header: OBJID, HEALPIX, CATID, RA, DEC, NVISITS, SNR, SNRVISn, SFILEn, ...")]
        + _APSTAR_IMAGES + [
            (8, "BINTABLE, may be empty", "LSF"),
            (9, "BINTABLE, 1 row per visit", "visit RVs and CCFs (FILENAME, SNR, VHELIO, CCF, ...)"),
        ],
        (2, APSTAR_NPIX), _F64, "RA/DEC (primary header)",
        "apogee/spectro/redux/{apred}/stars/{telescope}/{healpix // 1000}/{healpix}/apStar-{apred}-{telescope}-{obj}.fits",
        "md/apStar.md and yaml/apStar.yaml, release WORK (apred 1.0; DR19/DR20 are not listed): HDU 1-7 "
        "BITPIX -64, HDU 3 64, HDU 8 an empty BINTABLE, HDU 9 one row per visit, no HDU 10; path "
        "{apred}/{apstar}/{telescope}/@healpixgrp|/{healpix}/apStar-{apred}-{telescope}-{obj}.fits (the installed "
        "sdss-access DR19/DR20 templates agree); silent on one visit: (2, 8575) is assumed as in DR17",
    ),
    ReleaseLayout(
        "apVisit", ("dr13", "dr14", "dr15"), "sdss4",
        [(0, "PRIMARY", "header: OBJID, RA, DEC, PLATE, MJD5, FIBERID, SNR, ...")] + _APVISIT_IMAGES + [
            (11, "BINTABLE, 1 row", "RV results"),
        ],
        None, _F32, "RA/DEC (primary header)",
        "apogee/spectro/redux/{apred}/{telescope}/{plate}/{mjd}/apVisit-{apred}-{plate}-{mjd}-{fiber:03d}.fits",
        "none: md/apVisit.md lists DR16, DR17, DR19 and WORK only; this row follows the real DR13 files "
        "in ../shared/sdss-data (the same HDUs as DR16)",
    ),
    ReleaseLayout(
        "apVisit", ("dr16", "dr17"), "dr16",
        [(0, "PRIMARY", "header: OBJID, RA, DEC, PLATE, MJD5, FIBERID, SNR, ...")] + _APVISIT_IMAGES + [
            (11, "BINTABLE, 1 row", "RV results"),
        ],
        None, _F32, "RA/DEC (primary header)",
        "apogee/spectro/redux/{apred}/visit/{telescope}/{field}/{plate}/{mjd}/{prefix}Visit-{apred}-{plate}-{mjd}-{fiber:03d}.fits",
        "yaml/apVisit.yaml, release DR16 (path $APOGEE_REDUX/{apred}/visit/{telescope}/{field}/{plate}/{mjd}/"
        "{prefix}Visit-{apred}-{plate}-{mjd}-{fiber:0>3}.fits; HDU 1 BITPIX -32 (3, 4096)); md/apVisit.md "
        "(DR17 changes header cards only)",
    ),
    ReleaseLayout(
        "apVisit", ("dr19", "dr20"), "sdss5",
        [(0, "PRIMARY", "header: OBJID, RA, DEC, PLATE, MJD5, FIBERID, SNR, ...")] + [
            (index, kind, f"{what}; DR19 EXTNAME {name}")
            for (index, kind, what), name in zip(_APVISIT_IMAGES, _APVISIT_DR19_NAMES)
        ] + [
            (11, "BINTABLE, 1 row", "RV results"),
        ],
        None, _F32, "RA/DEC (primary header)",
        "apogee/spectro/redux/{apred}/visit/{telescope}/{field}/{plate}/{mjd}/apVisit-{apred}-{telescope}-{plate}-{mjd}-{fiber:03d}.fits",
        "md/apVisit.md, releases DR19 and WORK (example apred 1.0: HDU 1-8 (3, 4096), HDU 9 (3, 14), HDU 10 "
        "(3, 26), HDU 11 1 row); DR19 names HDUs 1-10 FLUX, ERROR, MASK, WAVELENGTH, SKY FLUX, SKY ERROR, "
        "TELLURIC, TELLURIC ERROR, WAVE COEFFICIENTS, LSF COEFFICIENTS (WORK does not); DR20 not listed; "
        "the path is the installed sdss-access DR19/DR20 template (not on the page)",
    ),
    ReleaseLayout(
        "aspcapStar", ("dr13", "dr14", "dr15", "dr16", "dr17"), "sdss4",
        [
            (0, "PRIMARY", "header"),
            (1, "IMAGE (n,)", "pseudo-continuum-normalised flux, CRVAL1/CDELT1"),
            (2, "IMAGE (n,)", "flux error"),
            (3, "IMAGE (n,)", "best-fitting ASPCAP model"),
            ("4+", "BINTABLE", "ASPCAP parameters (ASPCAPFLAG, ...)"),
        ],
        None, ("float32", "float32", None), "RA/DEC (primary header)",
        "apogee/spectro/aspcap/{apred}/{aspcap}/{telescope}/{field}/aspcapStar-{apred}-{obj}.fits (DR16, DR17)",
        "none: sdss/datamodel has no aspcapStar page (md/APOGEE_ASPCAP/ holds allStar and allPlates only); "
        "this row follows the real aspcapStar files Astra reads and is not verified against the datamodel",
    ),
    ReleaseLayout(
        "spec", ("dr13", "dr14", "dr15", "dr16", "dr17"), "sdss4",
        [
            (0, "PRIMARY", "header: PLUG_RA, PLUG_DEC (the object), RA, DEC (the telescope boresight), ..."),
            (1, "BINTABLE COADD", "flux, loglam, ivar, and_mask, or_mask, wdisp, sky, model"),
            (2, "BINTABLE SPALL, 1 row", "spAll row: PLUG_RA, PLUG_DEC, SN_MEDIAN_ALL, THING_ID, ..."),
            (3, "BINTABLE SPZLINE", "emission-line fits"),
            ("4+", "BINTABLE", "one table per exposure and camera (EXTNAME B1-00104940-00104944-00104945, ...)"),
        ],
        None, None, "PLUG_RA/PLUG_DEC (primary header, else SPALL)",
        "{run2d}/spectra/full/{plateid:04d}/spec-{plateid:04d}-{mjd}-{fiberid:04d}.fits",
        "md/specFull.md and yaml/specLite.yaml changelogs, DR13-DR17 (COADD, SPALL, SPZLINE, then B1-/R1-/B2-/"
        "R2- exposure tables; the lite file stops at SPZLINE); ambiguous: the pages' DR16 entries drop, and "
        "their DR17 entries re-add, COADD/SPALL/SPZLINE (taken here as an artefact of their example files)",
    ),
    ReleaseLayout(
        "specLite", ("dr18", "dr19", "dr20"), "sdss5",
        [
            (0, "PRIMARY", "header: PLUG_RA, PLUG_DEC (the object), RA, DEC (the field centre), OBSERVAT, ..."),
            (1, "BINTABLE COADD", "FLUX, LOGLAM, IVAR, AND_MASK, OR_MASK, WDISP, SKY, MODEL"),
            (2, "BINTABLE SPALL, 1 row", "FIBER_RA, FIBER_DEC, RACAT, DECCAT, SN_MEDIAN_ALL, ..."),
            (3, "BINTABLE ZALL", "redshift fits"),
            (4, "BINTABLE ZLINE", "emission-line fits"),
        ],
        None, None, "PLUG_RA/PLUG_DEC (primary header), else SPALL FIBER_RA/FIBER_DEC, RACAT/DECCAT",
        "DR18: {run2d}/spectra/lite/{fieldid}p/{mjd}/spec-{fieldid}-{mjd}-{catalogid:0>11}.fits; DR19: "
        "{run2d}/spectra/lite/{fieldid:0>6}[p]/{mjd}/spec-{fieldid:0>6}-{mjd}-{catalogid}.fits; DR20: "
        "{run2d}/spectra/<sptypefolder>/lite/<fieldgrp>/{fieldid:0>6}[p]/{mjd}/spec-{fieldid:0>6}-{mjd}-{catalogid}.fits",
        "md/specLite.md and yaml/specLite.yaml, releases DR18, IPL3, DR19 (PLUG_RA \"RA of Target\", RA \"RA of "
        "telescope boresight\"; SPALL has FIBER_RA, PLUG_RA, RACAT; sdss-access "
        "{run2d}/spectra/lite/@pad_fieldid|@isplate|/{mjd}/spec-@pad_fieldid|-{mjd}-{catalogid}.fits, example "
        "v6_1_3/spectra/lite/112360/60000/spec-112360-60000-27021598150202075.fits); DR20 not listed (specFull "
        "lists DR20 with no change from DR19); the paths are the installed sdss-access templates (DR18 "
        "{fieldid}p and {catalogid:0>11}; DR19 @pad_fieldid|@isplate|; DR20 @sptypefolder|/lite/@fieldgrp|/"
        "@pad_fieldid|@isplate|)",
    ),
    ReleaseLayout(
        "specFull", ("dr18", "dr19", "dr20"), "sdss5",
        [
            (0, "PRIMARY", "as specLite"),
            (1, "BINTABLE COADD", "as specLite"),
            (2, "BINTABLE SPALL, 1 row", "as specLite"),
            (3, "BINTABLE ZALL", "redshift fits"),
            (4, "BINTABLE ZLINE", "emission-line fits"),
            ("5+", "BINTABLE", "one table per exposure (EXTNAME MJD_EXP_<mjd>-<nn>, e.g. MJD_EXP_60000-00)"),
        ],
        None, None, "as specLite",
        "as specLite, with full in place of lite",
        "md/specFull.md, releases DR18, IPL3, DR19, IPL4, DR20 (DR20 example: COADD, SPALL, ZALL, ZLINE, "
        "MJD_EXP_60000-00 ... -07, one per exposure, no longer per camera); paths: the installed "
        "sdss-access specFull templates, which are specLite's with full for lite",
    ),
    ReleaseLayout(
        "mwmStar", ("dr19", "dr20"), "sdss5", _MWM_HDUS, None, None, "RA/DEC (primary header)",
        "{v_astra}/spectra/star/<sdss_id groups>/mwmStar-{v_astra}-{sdss_id}.fits",
        "md/mwmStar.md, releases DR19, DR20 (example 0.6.0/spectra/star/00/00/mwmStar-0.6.0-103020000.fits; "
        "EXTNAME BOSS/APO, BOSS/LCO, APOGEE/APO, APOGEE/LCO, each with OBSRVTRY, INSTRMNT, V_ASTRA 0.8.1, "
        "CREATED; RA/DEC of the primary header in deg)",
    ),
    ReleaseLayout(
        "mwmVisit", ("dr19", "dr20"), "sdss5", _MWM_HDUS, None, None, "RA/DEC (primary header)",
        "{v_astra}/spectra/visit/<sdss_id groups>/mwmVisit-{v_astra}-{sdss_id}.fits",
        "as mwmStar: md/mwmVisit.md lists only WORK (Astra 0.2.4dev: the same five HDUs BOSS/APO ... "
        "APOGEE/LCO, RA/DEC \"SDSS-V catalog right ascension\", an ASTRA card instead of V_ASTRA, path "
        "[ASTRA_VERSION]/[RUN2D]-[APRED]/spectra/visit/...); DR19/DR20 taken from mwmStar.md",
    ),
)


def layouts_of(model):
    """The rows of :data:`RELEASE_LAYOUTS` of one data model, oldest first.

    :param model: a data-model name, e.g. ``"apStar"``.
    """
    return [layout for layout in RELEASE_LAYOUTS if layout.model == model]


def layout_for(model, release):
    """The :class:`ReleaseLayout` of ``model`` in ``release``, or ``None`` when the table has none.

    :param model: a data-model name.
    :param release: a release, e.g. ``"dr17"`` (SDSS-V internal releases count as ``dr19``).
    """
    release = str(release).lower()
    if release in ("ipl1", "ipl2", "ipl3", "ipl4", "sdsswork"):
        release = "dr19"
    return next((layout for layout in layouts_of(model) if release in layout.releases), None)


@functools.lru_cache(maxsize=64)
def apstar_shapes(nvisits):
    """The shapes an apStar file's HDUs 1-3 may have with ``NVISITS = nvisits``, and their releases.

    One visit: ``(8575,)`` in DR13-DR16 (1-D), ``(2, 8575)`` from DR17 on (the pixel- and the
    global-weighted combination, which are the visit itself). ``n >= 2`` visits: ``(n + 2, 8575)``
    in every release (the two combinations, then each visit).

    :param nvisits: the ``NVISITS`` card, or ``None`` when the file has none.
    :returns: a dict of shape -> tuple of releases (empty when ``nvisits`` is not a count);
        cached, so not to be changed by the caller.
    """
    if isinstance(nvisits, bool) or not isinstance(nvisits, int) or nvisits < 1:
        return {}
    allowed = {}
    for layout in layouts_of("apStar"):
        shape = layout.single if nvisits == 1 else (nvisits + 2, APSTAR_NPIX)
        allowed.setdefault(shape, ())
        allowed[shape] += layout.releases
    return allowed


def describe_allowed(allowed):
    """``"(8575,) (dr13-dr16) or (2, 8575) (dr17, dr19, dr20)"``: the shapes for a message.

    :param allowed: what :func:`apstar_shapes` returns.
    """
    parts = []
    for shape, releases in allowed.items():
        parts.append(f"{shape} ({', '.join(releases)})")
    return " or ".join(parts) or "none (NVISITS is not a positive count)"
