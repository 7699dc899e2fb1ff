"""The APOGEE data models: apStar, apVisit and aspcapStar."""

from astra.datamodels.base import DataModel
from astra.datamodels.grids import APSTAR_GRID
from astra.datamodels.releases import apstar_shapes, describe_allowed

__all__ = ["APSTAR", "APVISIT", "ASPCAPSTAR"]

_DR10_11 = ("dr10", "dr11")
_DR12_17 = ("dr12", "dr13", "dr14", "dr15", "dr16", "dr17")
#: SDSS-V releases (sdss-access 3.0): the healpix layout of apStar, the telescope in apVisit paths.
SDSS5 = ("ipl1", "ipl2", "ipl3", "ipl4", "dr19", "dr20", "sdsswork")


def _bunit(structure, index):
    return str(structure.header(index).get("BUNIT", "")).lower()


def is_apstar(s):
    """An apStar file: NVISITS in the primary header, HDU 1 a flux image with CRVAL1."""
    return (
        s.has(1) and s.is_image(1) and "NVISITS" in s.header(0)
        and "CRVAL1" in s.header(1) and _bunit(s, 1).startswith("flux")
    )


def is_apvisit(s):
    """An apVisit file: HDU 1 a (3, n) image, HDU 4 the wavelength image."""
    if not (s.has(4) and s.is_image(1)) or is_apstar(s):
        return False
    first = s.header(1)
    return first.get("NAXIS") == 2 and first.get("NAXIS2") == 3 and _bunit(s, 4).startswith("wavelength")


def is_aspcapstar(s):
    """An aspcapStar file: HDU 1 a 1-D image with CRVAL1, the last HDU the ASPCAP table."""
    if not (s.has(3) and s.is_image(1)) or is_apstar(s):
        return False
    if not (s.header(1).get("NAXIS") == 1 and "CRVAL1" in s.header(1)):
        return False
    return "aspcapflag" in s.columns(len(s) - 1) or "ASPCAPFLAG" in s.header(-1).values()


def apstar_shape_problem(s):
    """``None`` when HDUs 1-3 of an apStar file have a shape a release allows for its NVISITS, else why not."""
    nvisits = s.header(0).get("NVISITS")
    nvisits = nvisits if isinstance(nvisits, int) and not isinstance(nvisits, bool) else None
    allowed = apstar_shapes(nvisits)
    for index, what in ((1, "flux"), (2, "sigma"), (3, "bitmask")):
        shape = s.shape(index)
        if shape not in allowed:
            return (f"HDU {index} ({what}) has shape {shape} with NVISITS = {nvisits}; the apStar data model "
                    f"allows {describe_allowed(allowed)}")
    return None


def apvisit_shape_problem(s):
    """``None`` when HDUs 1-4 of an apVisit file are ``(3, 4096)``, else why not."""
    for index, what in ((1, "flux"), (2, "sigma"), (3, "bitmask"), (4, "wavelength")):
        shape = s.shape(index)
        if shape != (3, 4096):
            return f"HDU {index} ({what}) has shape {shape}; the apVisit data model (every release) has (3, 4096)"
    return None


_GZ = r"\.fits(?:\.gz)?$"

APSTAR = DataModel(
    "apStar",
    title="apStar",
    instrument="apogee",
    releases=(
        (_DR10_11, ("apred", "apstar", "field", "obj")),
        (_DR12_17, ("apred", "apstar", "telescope", "field", "prefix", "obj")),
        (SDSS5, ("apred", "telescope", "healpix", "obj")),
    ),
    layout_rule=is_apstar,
    shape_rule=apstar_shape_problem,
    filename=r"^a[ps]Star-.+" + _GZ,
    format="APOGEE apStar (astra)",
    lean=True,
    grid=APSTAR_GRID,
)

APVISIT = DataModel(
    "apVisit",
    title="apVisit",
    instrument="apogee",
    releases=(
        (_DR10_11, ("apred", "plate", "mjd", "fiber")),
        (("dr12", "dr13", "dr14", "dr15"), ("apred", "telescope", "plate", "mjd", "fiber")),
        (("dr16", "dr17"), ("apred", "telescope", "field", "plate", "mjd", "prefix", "fiber")),
        (SDSS5, ("apred", "telescope", "field", "plate", "mjd", "fiber")),
    ),
    layout_rule=is_apvisit,
    shape_rule=apvisit_shape_problem,
    filename=r"^a[ps]Visit-.+" + _GZ,
    format="APOGEE apVisit (astra)",
    lean=True,
)

ASPCAPSTAR = DataModel(
    "aspcapStar",
    title="aspcapStar",
    instrument="apogee",
    releases=(
        (("dr10", "dr11", "dr12", "dr13", "dr14", "dr15"), ("apred", "apstar", "aspcap", "results", "location", "obj")),
        (("dr16", "dr17", "ipl3", "ipl4", "sdsswork"), ("apred", "aspcap", "telescope", "field", "obj")),
    ),
    layout_rule=is_aspcapstar,
    filename=r"^aspcapStar-.+" + _GZ,
    format="APOGEE aspcapStar (astra)",
    lean=True,
)
