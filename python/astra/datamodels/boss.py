"""The BOSS data models: spec (SDSS-III/IV), and specLite and specFull (SDSS-V, same layout)."""

from astra.datamodels.apogee import SDSS5
from astra.datamodels.base import DataModel

__all__ = ["SPEC", "SPECLITE", "SPECFULL"]


def is_mwm_like(s):
    """A Milky Way Mapper file: V_ASTRA and SDSS_ID in the primary header, five HDUs or more."""
    primary = s.header(0)
    return "V_ASTRA" in primary and "SDSS_ID" in primary and s.has(4)


def is_boss_spec(s):
    """A BOSS spec file: HDU 1 the COADD table with flux, loglam and ivar columns."""
    return s.has(1) and s.is_table(1) and {"flux", "loglam", "ivar"} <= s.columns(1) and not is_mwm_like(s)




SPEC = DataModel(
    "spec",
    title="BOSS spec",
    instrument="boss",
    releases=(
        (("dr8", "dr9", "dr10", "dr11", "dr12", "dr13", "dr14", "dr15", "dr16", "dr17"),
         ("run2d", "plateid", "mjd", "fiberid")),
    ),
    layout_rule=is_boss_spec,
    filename=r"^spec-\d+-\d+-\d+\.fits(?:\.gz)?$",
    format="BOSS spec (astra)",
    synthetic_keys={"mjd": (55100, 58900)},  # BOSS (SDSS-III) began before APOGEE
)

_SDSS5_SPEC_RELEASES = (
    (("dr18",), ("run2d", "fieldid", "mjd", "catalogid")),
    (SDSS5, ("run2d", "mjd", "catalogid", "fieldid")),
)

SPECLITE = DataModel(
    "specLite",
    title="BOSS specLite",
    instrument="boss",
    releases=_SDSS5_SPEC_RELEASES,
    layout="spec",
)

SPECFULL = DataModel(
    "specFull",
    title="BOSS specFull",
    instrument="boss",
    releases=_SDSS5_SPEC_RELEASES,
    layout="spec",
)
