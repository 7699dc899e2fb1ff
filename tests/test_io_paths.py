"""Tests of astra.tasks.io.paths: our cached resolver against sdss-access's Path.full()."""

import os

import pytest

from astra.tasks.io import paths
from astra.tasks.io.paths import MissingKeyError, UnknownReleaseError, UnknownSpeciesError

#: (release, species, keys): one case per layout we support, SDSS-IV and SDSS-V.
CASES = [
    ("dr13", "apStar", dict(apred="r6", apstar="stars", telescope="apo25m", prefix="ap", field="120-45", obj="2M00452143+1634446")),
    ("dr13", "apVisit", dict(apred="r6", telescope="apo25m", plate=6561, mjd=56587, fiber=131)),
    ("dr13", "spec", dict(run2d="v5_10_0", plateid=3586, mjd=55181, fiberid=500)),
    ("dr13", "aspcapStar", dict(apred="r6", apstar="stars", aspcap="l30e", results="l30e.2", location=4241, obj="2M00")),
    ("dr16", "apVisit", dict(apred="r12", telescope="apo25m", prefix="ap", field="N188", plate=5095, mjd=55844, fiber=128)),
    ("dr16", "apStar", dict(apred="r12", apstar="stars", telescope="lco25m", prefix="as", field="N188", obj="2M0001")),
    ("dr16", "aspcapStar", dict(apred="r12", aspcap="l33", telescope="apo25m", field="N188", obj="2M0001")),
    ("dr16", "spec", dict(run2d="26", plateid=266, mjd=51602, fiberid=3)),
    ("dr17", "apStar", dict(apred="dr17", apstar="stars", telescope="apo25m", prefix="ap", field="120-45", obj="2M0045")),
    ("dr17", "apVisit", dict(apred="dr17", telescope="apo25m", prefix="ap", field="120-45", plate=6561, mjd=56587, fiber=5)),
    ("dr17", "spec", dict(run2d="v5_13_2", plateid=3586, mjd=55181, fiberid=500)),
    ("dr19", "apStar", dict(apred="1.3", telescope="apo25m", healpix=12345, obj="2M00452143+1634446")),
    ("dr19", "apVisit", dict(apred="1.3", telescope="lco25m", field="100", plate=15000, mjd=60000, fiber=7)),
    ("dr19", "mwmStar", dict(v_astra="0.6.0", sdss_id=54392544)),
    ("dr19", "mwmVisit", dict(v_astra="0.6.0", sdss_id=54392544)),
    ("dr19", "specLite", dict(run2d="v6_1_3", fieldid=15000, mjd=60000, catalogid=27021597842679140)),
    ("dr19", "specFull", dict(run2d="v6_0_4", fieldid=15000, mjd=60000, catalogid=27021597842679140)),
    ("sdsswork", "apStar", dict(apred="1.4", telescope="apo25m", healpix=3, obj="2M1")),
    ("sdsswork", "specLite", dict(run2d="v6_2_0", fieldid=101077, mjd=60200, catalogid=123)),
    ("sdsswork", "mwmStar", dict(v_astra="0.7.0", sdss_id=42)),
    ("ipl3", "apStar", dict(apred="1.2", telescope="lco25m", healpix=99999, obj="2M2")),
    ("ipl1", "mwmStar", dict(v_astra="0.1", run2d="v6_0_9", apred="1.0", cat_id=4567, component="")),
    ("dr18", "specLite", dict(run2d="v6_0_4", fieldid="015000", mjd=59000, catalogid=4375786564)),
]


@pytest.fixture
def sas(tmp_path, monkeypatch):
    """An empty SAS root in SAS_BASE_DIR."""
    root = tmp_path / "sas"
    root.mkdir()
    monkeypatch.setenv("SAS_BASE_DIR", str(root))
    return str(root)


@pytest.fixture
def sdss_path(sas):
    """sdss-access's Path class; os.environ is restored after the test (Path writes into it)."""
    saved = dict(os.environ)
    from sdss_access.path import Path

    yield Path
    for name in [n for n in os.environ if n not in saved]:
        del os.environ[name]
    os.environ.update(saved)


@pytest.mark.parametrize("release,species,keys", CASES, ids=[f"{r}-{s}" for r, s, _ in CASES])
def test_full_path_equals_sdss_access(sdss_path, release, species, keys):
    expected = sdss_path(release=release).full(species, **keys)
    assert paths.full_path(release, species, **keys) == expected


def test_interleaved_releases_in_one_process(sdss_path, sas):
    expected = [sdss_path(release=r).full(s, **k) for r, s, k in CASES]
    # Resolve in a shuffled, repeated order: each release must keep its own layout.
    order = list(range(len(CASES))) * 2
    order = order[::3] + order[1::3] + order[2::3]
    for index in order:
        release, species, keys = CASES[index]
        assert paths.full_path(release, species, **keys) == expected[index]


def test_stale_sdss_access_path_leaks_but_ours_does_not(sdss_path):
    keys = dict(apred="r12", telescope="apo25m", prefix="ap", field="N188", plate=5095, mjd=55844, fiber=128)
    dr16 = sdss_path(release="dr16")
    expected = dr16.full("apVisit", **keys)
    sdss_path(release="dr17")
    # sdss-access's own behaviour: the dr16 object now builds dr17 paths.
    assert "/dr17/" in dr16.full("apVisit", **keys)
    assert paths.full_path("dr16", "apVisit", **keys) == expected


def test_resolution_does_not_change_environment(sas):
    before = dict(os.environ)
    paths.full_path("dr16", "apStar", apred="r12", apstar="stars", telescope="apo25m", prefix="ap", field="x", obj="y")
    paths.full_path("sdsswork", "mwmStar", v_astra="0.7.0", sdss_id=1)
    paths.releases_for("apStar")
    assert dict(os.environ) == before


def test_no_path_object_per_call(sas, monkeypatch):
    import sdss_access.path

    keys = dict(apred="dr17", apstar="stars", telescope="apo25m", prefix="ap", field="x")
    paths.full_path("dr17", "apStar", obj="warm", **keys)
    paths.full_path("dr19", "apStar", apred="1.3", telescope="apo25m", healpix=1, obj="warm")
    constructed = []
    original = sdss_access.path.Path.__init__

    def counting(self, *args, **kwargs):
        constructed.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(sdss_access.path.Path, "__init__", counting)
    for i in range(2000):
        paths.full_path("dr17", "apStar", obj=f"2M{i}", **keys)
        paths.full_path("dr19", "apStar", apred="1.3", telescope="apo25m", healpix=i, obj=f"2M{i}")
    assert constructed == []


def test_sas_root_argument_and_default(tmp_path, monkeypatch):
    keys = dict(apred="r6", telescope="apo25m", plate=1, mjd=2, fiber=3)
    got = paths.full_path("dr13", "apVisit", sas_base_dir=str(tmp_path / "mirror"), **keys)
    assert got == str(tmp_path / "mirror/dr13/apogee/spectro/redux/r6/apo25m/1/2/apVisit-r6-1-2-003.fits")
    monkeypatch.delenv("SAS_BASE_DIR", raising=False)
    assert paths.full_path("dr13", "apVisit", **keys).startswith(os.path.expanduser("~/sas/dr13/"))


def test_relative_path():
    rel = paths.relative_path("dr16", "apVisit", apred="r12", telescope="apo25m", prefix="ap", field="N188", plate=5095, mjd=55844, fiber=128)
    assert rel == "dr16/apogee/spectro/redux/r12/visit/apo25m/N188/5095/55844/apVisit-r12-5095-55844-128.fits"


def test_template_keys_and_releases():
    assert paths.template_keys("dr13", "apVisit") == ["apred", "telescope", "plate", "mjd", "fiber"]
    assert set(paths.template_keys("dr16", "apVisit")) == {"apred", "telescope", "field", "plate", "mjd", "prefix", "fiber"}
    assert set(paths.template_keys("dr19", "apStar")) == {"apred", "telescope", "healpix", "obj"}
    assert set(paths.template_keys("dr19", "specLite")) == {"run2d", "fieldid", "mjd", "catalogid"}
    assert {"dr13", "dr16", "dr17", "dr19"} <= set(paths.releases_for("apStar"))
    assert "dr19" not in paths.releases_for("spec")


def test_release_spellings():
    keys = dict(apred="1.2", telescope="apo25m", healpix=5, obj="x")
    assert paths.full_path("IPL-3", "apStar", **keys) == paths.full_path("ipl3", "apStar", **keys)
    assert paths.canonical_release("DR16") == "dr16"
    assert paths.canonical_release("work") == "sdsswork"


def test_missing_key_names_key_species_release():
    with pytest.raises(MissingKeyError, match=r"release dr16 needs 'field' for apVisit \(keys: .*fiber"):
        paths.full_path("dr16", "apVisit", apred="r12", telescope="apo25m", prefix="ap", plate=1, mjd=2, fiber=3)
    with pytest.raises(MissingKeyError, match="needs 'obj'"):
        paths.full_path("dr17", "apStar", apred="dr17", apstar="stars", telescope="apo25m", prefix="ap", field="x", obj=None)


def test_unknown_release_and_species():
    with pytest.raises(UnknownReleaseError, match="dr99"):
        paths.full_path("dr99", "apStar")
    with pytest.raises(UnknownSpeciesError, match="release dr18 has no apStar template"):
        paths.full_path("dr18", "apStar")


def test_error_output_has_no_colour_codes_when_not_a_terminal(tmp_path):
    # sdss-access's loggers colour tracebacks, warnings and messages; a pipe (a Slurm log)
    # must get plain text, and SAS_BASE_DIR, which does not exist, must not be created.
    import subprocess
    import sys

    script = (
        "import warnings\n"
        "from astra.tasks.io.paths import full_path\n"
        "full_path('dr13', 'apStar', apred='r6', apstar='stars', telescope='apo25m', field='1', obj='x', prefix='ap')\n"
        "import sdss_access\n"
        "sdss_access.log.warning('a message from sdss-access')\n"
        "warnings.warn('a warning')\n"
        "raise RuntimeError('a failure')\n"
    )
    missing = tmp_path / "no-such-sas"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, SAS_BASE_DIR=str(missing)))
    assert out.returncode == 1
    assert "a message from sdss-access" in out.stderr and "UserWarning: a warning" in out.stderr
    assert out.stderr.rstrip().endswith("RuntimeError: a failure")   # Python's own traceback
    assert "\x1b[" not in out.stderr
    assert not missing.exists()
