"""The BOSS data models: spec (SDSS-III/IV), and specLite and specFull (SDSS-V, same layout)."""

from astra.datamodels.apogee import SDSS5
from astra.datamodels.base import DataModel

__all__ = ["SPEC", "SPECLITE", "SPECFULL", "BOSS_POSITION"]


def is_mwm_like(s):
    """A Milky Way Mapper file: V_ASTRA and SDSS_ID in the primary header, five HDUs or more."""
    primary = s.header(0)
    return "V_ASTRA" in primary and "SDSS_ID" in primary and s.has(4)


def is_boss_spec(s):
    """A BOSS spec file: HDU 1 the COADD table with flux, loglam and ivar columns."""
    return s.has(1) and s.is_table(1) and {"flux", "loglam", "ivar"} <= s.columns(1) and not is_mwm_like(s)


#: Where a BOSS spec file keeps its object's position: ``PLUG_RA``/``PLUG_DEC`` of the primary
#: header ("RA of object"; ``RA``/``DEC`` are the telescope boresight, up to 2 degrees away), else
#: the one-row ``SPALL`` table's ``PLUG_RA``/``PLUG_DEC``, ``FIBER_RA``/``FIBER_DEC`` (SDSS-V:
#: where the fibre was placed) or ``RACAT``/``DECCAT`` (SDSS-V: the catalogue position).
BOSS_POSITION = (
    ("header", "PLUG_RA", "PLUG_DEC"),
    ("SPALL", "PLUG_RA", "PLUG_DEC"),
    ("SPALL", "FIBER_RA", "FIBER_DEC"),
    ("SPALL", "RACAT", "DECCAT"),
)

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
    position=BOSS_POSITION,
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
    position=BOSS_POSITION,
)

SPECFULL = DataModel(
    "specFull",
    title="BOSS specFull",
    instrument="boss",
    releases=_SDSS5_SPEC_RELEASES,
    layout="spec",
    position=BOSS_POSITION,
)
