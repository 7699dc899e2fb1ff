"""The Milky Way Mapper data models made by Astra itself: mwmStar and mwmVisit."""

from astra.datamodels.base import DataModel
from astra.datamodels.boss import is_mwm_like

__all__ = ["MWMSTAR", "MWMVISIT"]

_RELEASES = (
    (("ipl1", "ipl2"), ("v_astra", "run2d", "apred", "cat_id", "component")),
    (("ipl3", "ipl4", "dr19", "dr20", "sdsswork"), ("v_astra", "sdss_id")),
)


def _spectrum_columns(s):
    columns = set()
    for index in range(1, 5):
        columns |= s.columns(index)
    return columns


def _is_mwm(s, visits):
    if not is_mwm_like(s):
        return False
    columns = _spectrum_columns(s)
    if "flux" not in columns or "model_flux" in columns:
        return False
    return ("mjd" in columns) == visits


def is_mwmstar(s):
    """An mwmStar file: the mwm primary header, tables 1-4 of coadds (no ``mjd`` column)."""
    return _is_mwm(s, visits=False)


def is_mwmvisit(s):
    """An mwmVisit file: the mwm primary header, tables 1-4 of visits (an ``mjd`` column)."""
    return _is_mwm(s, visits=True)




MWMSTAR = DataModel(
    "mwmStar",
    title="mwmStar",
    releases=_RELEASES,
    layout_rule=is_mwmstar,
    filename=r"^mwmStar-.+\.fits(?:\.gz)?$",
    format="SDSS-V mwmStar (astra)",
    compatible=("mwmVisit",),
)

MWMVISIT = DataModel(
    "mwmVisit",
    title="mwmVisit",
    releases=_RELEASES,
    layout_rule=is_mwmvisit,
    filename=r"^mwmVisit-.+\.fits(?:\.gz)?$",
    format="SDSS-V mwmVisit (astra)",
    compatible=("mwmStar",),
)
