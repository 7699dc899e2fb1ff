"""Tests of astra.datamodels: the registry, keys against sdss-access, layouts, grids, writers."""

import numpy as np
import pytest

import astra.datamodels as datamodels
from astra.datamodels import DATA_MODELS, get
from astra.tasks.io.base import SDSSDataModelTask
from astra.tools.spectrum import SpectrumReadError

NAMES = ["apStar", "apVisit", "spec", "specLite", "specFull", "aspcapStar", "mwmStar", "mwmVisit"]


def test_registry_order_and_exact_lookup():
    assert list(DATA_MODELS) == NAMES
    for name in NAMES:
        assert get(name) is DATA_MODELS[name]
        assert get(name).name == name


def test_lookup_ignores_case():
    assert get("apstar") is DATA_MODELS["apStar"]
    assert get("SPECLITE") is DATA_MODELS["specLite"]
    assert get("MwmVisit") is DATA_MODELS["mwmVisit"]


def test_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(ValueError, match=r"did you mean 'apStar'\?") as info:
        get("apStr")
    for name in NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError) as info:
        get("zzzzzz")
    assert "did you mean" not in str(info.value)
    assert "known: apStar, apVisit" in str(info.value)


def test_unknown_name_with_a_newline_is_escaped():
    with pytest.raises(ValueError) as info:
        get("apStar\nINFO fake")
    assert "\n" not in str(info.value)
    assert "\\n" in str(info.value)


def _sdss_access_keys(release, species):
    """The keys sdss-access itself reports for a template (its own Path object)."""
    from astra.tasks.io.paths import _release

    return set(_release(release).path.lookup_keys(species))


@pytest.mark.parametrize("name", NAMES)
def test_keys_per_release_match_sdss_access(name):
    from astra.tasks.io.paths import releases_for

    model = get(name)
    assert set(model.releases) == set(releases_for(name))
    for release in model.releases:
        assert set(model.keys(release)) == _sdss_access_keys(release, name), release
        assert set(model.keys(release)) <= set(model.all_keys)
    assert model.keys(model.releases[0].upper()) == model.keys(model.releases[0])


@pytest.mark.parametrize("name", NAMES)
def test_file_task_declares_every_key(name):
    model = get(name)
    task = model.file_task
    assert issubclass(task, SDSSDataModelTask)
    assert task.sdss_data_model_name == name
    assert set(task.data_model_keys()) == set(model.all_keys)
    assert model.identity_keys[0] == "release"


def test_sdss5_keys():
    assert set(get("specLite").keys("dr19")) == {"run2d", "fieldid", "mjd", "catalogid"}
    assert set(get("mwmStar").keys("ipl2")) == {"v_astra", "run2d", "apred", "cat_id", "component"}
    assert set(get("mwmVisit").keys("dr19")) == {"v_astra", "sdss_id"}
    assert set(get("apStar").keys("dr19")) == {"apred", "telescope", "healpix", "obj"}
    for key in ("fieldid", "catalogid", "cat_id", "v_astra", "sdss_id", "healpix", "run2d", "apred"):
        assert key in datamodels.result_keys()


def test_unknown_release():
    with pytest.raises(ValueError, match="specLite has no release 'dr13'"):
        get("specLite").keys("dr13")


def test_apstar_grid_is_defined_once():
    from astra.tasks import continuum
    from astra.tools.spectrum import loaders_apogee
    from astra.tools.synthetic import model

    apstar = get("apStar")
    assert apstar.npix == 8575
    wavelength = apstar.wavelength()
    assert wavelength.shape == (8575,)
    assert wavelength[0] == pytest.approx(10**4.179)
    np.testing.assert_array_equal(wavelength, model.apogee_wavelength())
    assert loaders_apogee.APSTAR_NPIX == continuum._APSTAR_NPIX == model.APOGEE_NPIX == 8575
    assert get("apVisit").npix is None and get("apVisit").wavelength() is None


def test_formats_and_layouts_come_from_the_registry():
    from astra.tools.spectrum import FORMATS
    from astra.tools.spectrum.errors import LEAN_KINDS

    assert set(FORMATS) == {"apStar", "apVisit", "aspcapStar", "spec", "mwmStar", "mwmVisit"}
    assert get("specLite").layout_model is get("spec")
    assert LEAN_KINDS == {"apStar", "apVisit", "aspcapStar"}


def test_backwards_compatible_species_views():
    from astra.contrib.rocket import SPECIES
    from astra.tasks.continuum import SPECIES as CONTINUUM_SPECIES
    from astra.tasks.io import ApStarFile, ApVisitFile, SpecFile

    assert dict(SPECIES) == {"apStar": ApStarFile, "apVisit": ApVisitFile, "spec": SpecFile}
    assert dict(CONTINUUM_SPECIES) == dict(SPECIES)
    with pytest.raises(KeyError):
        SPECIES["mwmStar"]


@pytest.mark.parametrize("name", NAMES)
def test_synthetic_writer_reads_back_through_the_model(tmp_path, name):
    from astra.tools.synthetic import write_sample_tree

    model = get(name)
    release = "dr13" if "dr13" in model.releases else "dr19"
    tree = write_sample_tree(tmp_path, 2, release=release, species=name, seed=3)
    for path in tree.paths:
        model.check_layout(path)
        arrays = model.read_arrays(path)
        assert np.size(arrays.flux) > 0
        spectrum = model.read_spectrum(path)
        assert spectrum.flux.size > 0


def test_check_layout_names_the_file_and_the_layout_found(tmp_path):
    from astra.tools.synthetic import write_aspcapstar, write_boss_spec

    aspcap = write_aspcapstar(str(tmp_path / "a.fits"), seed=1)
    with pytest.raises(SpectrumReadError, match="a.fits: wrong kind of file: expected apStar, but its HDU layout is that of aspcapStar"):
        get("apStar").check_layout(aspcap)
    spec = write_boss_spec(str(tmp_path / "s.fits"), seed=1)
    get("specLite").check_layout(spec)  # the spec layout
    with pytest.raises(SpectrumReadError, match="expected mwmStar, but its HDU layout is that of BOSS spec"):
        get("mwmStar").check_layout(spec)


def test_check_layout_of_an_unrecognised_file_describes_it(tmp_path):
    from astropy.io import fits

    path = str(tmp_path / "odd.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(5, dtype=np.float32))]).writeto(path)
    with pytest.raises(SpectrumReadError, match=r"odd.fits: HDU layout is not that of apVisit: found 2 HDUs: PRIMARY, IMAGE \(5,\)"):
        get("apVisit").check_layout(path)
