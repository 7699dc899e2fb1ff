"""Fast versions of sdss-access's special template functions (``@name|`` in a template).

Each function takes the file species and the template keys and returns the text that replaces
its ``@name|`` marker, exactly as the method of the same name on
:class:`sdss_access.path.Path` (3.0.x) does. Functions not listed in :data:`SPECIAL_FUNCTIONS`
are called on a :class:`~sdss_access.path.Path` object cached once per release (see
:mod:`astra.datamodels.paths`); ``@spectrodir|`` reads the release's own environment, captured when
its templates were extracted, and is bound per release there.
"""

__all__ = ["SPECIAL_FUNCTIONS", "OPTIONAL_KEYS", "apgprefix"]

_APG_PREFIX_BY_TELESCOPE = {"apo25m": "ap", "apo1m": "ap", "lco25m": "as"}
_APG_PREFIX_BY_INSTRUMENT = {"apogee-n": "ap", "apogee-s": "as"}
_APG_INSTRUMENT = {"apo25m": "apogee-n", "apo1m": "apogee-n", "lco25m": "apogee-s"}
_OLD_RUN2D = ("26", "103", "104")
_PLATE_RUN2D = ("v6_0_1", "v6_0_2", "v6_0_3", "v6_0_4")

#: Keys that sdss-access lists for a template but whose special function has a default; a
#: missing (``None``) value is given this default instead of raising.
OPTIONAL_KEYS = {"component": ""}


def apgprefix(species, keys):
    """The APOGEE file prefix (``ap`` for APO, ``as`` for LCO) from ``telescope`` or ``instrument``.

    :param species: the file species (unused; kept for the common signature).
    :param keys: the template keys.
    :returns: ``"ap"``, ``"as"`` or ``""`` when neither key is given.
    """
    telescope = keys.get("telescope")
    if telescope is not None:
        if telescope not in _APG_PREFIX_BY_TELESCOPE:
            raise ValueError(f"{telescope} not in allowed list of prefixes")
        return _APG_PREFIX_BY_TELESCOPE[telescope]
    instrument = keys.get("instrument")
    if instrument is not None:
        if instrument not in _APG_PREFIX_BY_INSTRUMENT:
            raise ValueError(f"{instrument} not in allowed list of prefixes")
        return _APG_PREFIX_BY_INSTRUMENT[instrument]
    return ""


def _apginst(species, keys):
    telescope = keys.get("telescope")
    if telescope is None:
        return ""
    if telescope not in _APG_INSTRUMENT:
        raise ValueError(f"{telescope} not in allowed list of prefixes")
    return _APG_INSTRUMENT[telescope]


def _healpixgrp(species, keys):
    return "{:d}".format(int(keys["healpix"]) // 1000)


def _plateid6(species, keys):
    plateid = int(keys["plateid"])
    return "{:0>6d}".format(plateid) if plateid < 10000 else "{:d}".format(plateid)


def _plategrp(species, keys):
    plate = keys.get("plate", keys.get("plateid"))
    if not plate:
        return "XX"
    return "{:0>4d}XX".format(int(plate) // 100)


def _sdss_id_groups(species, keys):
    sdss_id = int(keys["sdss_id"])
    return f"{(sdss_id // 100) % 100:0>2.0f}/{sdss_id % 100:0>2.0f}"


def _cat_id_groups(species, keys):
    cat_id = int(keys["cat_id"] if "cat_id" in keys else keys["catid"])
    return f"{(cat_id // 100) % 100:0>2.0f}/{cat_id % 100:0>2.0f}"


def _component_default(species, keys):
    component = keys.get("component", "")
    return str(component) if component is not None else ""


def _isplate(species, keys):
    run2d = keys.get("run2d")
    return "p" if run2d in _PLATE_RUN2D else ""


def _pad_fieldid(species, keys):
    fieldid = keys.get("fieldid")
    run2d = keys.get("run2d")
    if not run2d and not fieldid:
        return ""
    fieldid = str(fieldid)
    if run2d in _PLATE_RUN2D:
        return fieldid
    return fieldid.zfill(6) if fieldid.isnumeric() else fieldid


def _is_old_run2d(run2d):
    return "v5" in run2d or str(run2d) in _OLD_RUN2D or "v6_0" in run2d or "v6_1" in run2d


def _fieldgrp(species, keys):
    fieldid = keys.get("fieldid")
    if not fieldid:
        return ""
    if _is_old_run2d(keys.get("run2d")):
        return ""
    fieldid = str(fieldid)
    return "{:0>3d}XXX".format(int(fieldid) // 1000) if fieldid.isnumeric() else fieldid


def _sptypefolder(species, keys):
    run2d = keys.get("run2d")
    kind = species.lower()
    if not run2d or "v5" in run2d or str(run2d) in _OLD_RUN2D:
        return ""
    if "v6_0" in run2d or "v6_1" in run2d:
        if kind in ("speclite_epoch", "specfull_epoch", "spallfield_epoch", "spalllinefield_epoch"):
            return "epoch/spectra"
        return "epoch" if "epoch" in kind else ""
    if kind in ("fieldlist_epoch", "spall_epoch", "spall-lite_epoch", "spallline_epoch"):
        return "summary/epoch"
    if kind in ("speclite_epoch", "specfull_epoch", "spallfield_epoch", "spalllinefield_epoch"):
        return "spectra/epoch"
    if kind in ("conflist", "fieldlist", "spall", "spall-lite", "spallline"):
        return "summary/daily"
    if kind in ("speclite", "specfull", "spallfield", "spalllinefield"):
        return "daily"
    return "fields"


#: Special functions implemented here, by the name used in templates (``@name|``).
SPECIAL_FUNCTIONS = {
    "apgprefix": apgprefix,
    "apginst": _apginst,
    "healpixgrp": _healpixgrp,
    "plateid6": _plateid6,
    "plategrp": _plategrp,
    "sdss_id_groups": _sdss_id_groups,
    "cat_id_groups": _cat_id_groups,
    "component_default": _component_default,
    "isplate": _isplate,
    "pad_fieldid": _pad_fieldid,
    "fieldgrp": _fieldgrp,
    "sptypefolder": _sptypefolder,
}
