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


def _write_mwmstar(path, keys, labels, seed, **options):
    from astra.tools.synthetic.mwm import write_mwmstar

    return write_mwmstar(path, sdss_id=keys["sdss_id"], v_astra=keys["v_astra"], labels=labels, seed=seed, **options)


def _write_mwmvisit(path, keys, labels, seed, **options):
    from astra.tools.synthetic.mwm import write_mwmvisit

    return write_mwmvisit(path, sdss_id=keys["sdss_id"], v_astra=keys["v_astra"], labels=labels, seed=seed, **options)


MWMSTAR = DataModel(
    "mwmStar",
    title="mwmStar",
    file_task="astra.tasks.io.sdss5:MwmStarFile",
    releases=_RELEASES,
    loader="astra.tools.spectrum.loaders_mwm:load_mwm_spectrum",
    layout_rule=is_mwmstar,
    filename=r"^mwmStar-.+\.fits(?:\.gz)?$",
    format="SDSS-V mwmStar (astra)",
    compatible=("mwmVisit",),
    synthetic_writer="astra.datamodels.mwm:_write_mwmstar",
)

MWMVISIT = DataModel(
    "mwmVisit",
    title="mwmVisit",
    file_task="astra.tasks.io.sdss5:MwmVisitFile",
    releases=_RELEASES,
    loader="astra.tools.spectrum.loaders_mwm:load_mwm_spectrum",
    layout_rule=is_mwmvisit,
    filename=r"^mwmVisit-.+\.fits(?:\.gz)?$",
    format="SDSS-V mwmVisit (astra)",
    compatible=("mwmStar",),
    synthetic_writer="astra.datamodels.mwm:_write_mwmvisit",
)
