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
    from astra.datamodels.paths import _release

    return set(_release(release).path.lookup_keys(species))


@pytest.mark.parametrize("name", NAMES)
def test_keys_per_release_match_sdss_access(name):
    from astra.datamodels.paths import releases_for

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
    from astra.contrib.continuum import tasks as continuum
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
    from astra.contrib.continuum import SPECIES as CONTINUUM_SPECIES
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


# ---------------------------------------------------------------------- safe keys

from astra.datamodels import UnsafeKeyError, check_key_value, printable  # noqa: E402


@pytest.mark.parametrize("value", ["../x", "..", ".", "a/b", "/abs", "x\\y", "a\x00b", "120-45\nINFO: fake", "a\tb", "a\rb", "\x7f", "a..b"])
def test_unsafe_key_values_are_refused(value):
    with pytest.raises(UnsafeKeyError, match="may not make a path leave SAS_BASE_DIR") as info:
        check_key_value(value)
    assert "\n" not in str(info.value) and "\x00" not in str(info.value)


@pytest.mark.parametrize("value", ["2M00452143+1634446", "120-45", "K2_C4_168-21", "v5_10_0", "1.3", "0.6.0", "l30e.2", "", 12345, None])
def test_real_key_values_are_accepted(value):
    assert check_key_value(value) == value


def test_printable_escapes_control_characters():
    assert printable("a\nb\x00c") == "a\\nb\\x00c"
    assert printable("plain") == "plain"
    assert printable(5) == "5"


def test_file_task_refuses_a_traversal_key_naming_task_and_key():
    from astra.tasks.io import ApStarFile, MwmStarFile, SpecLiteFile

    keys = dict(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="120-45")
    with pytest.raises(ValueError, match=r"ApStarFile: parameter 'obj': unsafe value '\.\./\.\./etc/x'"):
        ApStarFile(**keys, obj="../../etc/x")
    with pytest.raises(ValueError, match=r"ApStarFile: parameter 'obj': unsafe value .* control character"):
        ApStarFile(**keys, obj=("2M00452143+1634446", "bad\x00name"))  # one member of a batch
    with pytest.raises(ValueError, match="SpecLiteFile: parameter 'fieldid'"):
        SpecLiteFile(release="dr19", run2d="v6_1_3", fieldid="../1", mjd=59000, catalogid=1)
    with pytest.raises(ValueError, match="MwmStarFile: parameter 'v_astra'"):
        MwmStarFile(release="dr19", v_astra="0.6.0/../..", sdss_id=1)


def test_analysis_task_refuses_a_traversal_key_at_construction():
    from astra.contrib.rocket import EstimateSNR

    with pytest.raises(ValueError, match="EstimateSNR: parameter 'field': unsafe value"):
        EstimateSNR(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="..", obj="x")


def test_resolved_path_outside_the_sas_root_is_refused(tmp_path):
    from astra.datamodels.paths import OutsideSASError, full_path, relative_path

    keys = dict(apred="r6", apstar="stars", telescope="apo25m", field="120-45", prefix="ap")
    inside = full_path("dr13", "apStar", sas_base_dir=str(tmp_path), obj="2M0", **keys)
    assert inside.startswith(str(tmp_path) + "/")
    escape = "../" * 12 + "tmp/x"
    with pytest.raises(OutsideSASError, match="outside the SAS root"):
        full_path("dr13", "apStar", sas_base_dir=str(tmp_path), obj=escape, **keys)
    with pytest.raises(OutsideSASError):
        relative_path("dr13", "apStar", obj=escape, **keys)


def test_luigi_command_line_traversal_reads_nothing_outside(tmp_path):
    """The reported case: ``--obj '../../..'`` used to read a file outside SAS_BASE_DIR."""
    import os
    import subprocess
    import sys

    from astra.tools.synthetic import write_apstar

    sas = tmp_path / "sas"
    sas.mkdir()
    outside = tmp_path / "outside"
    write_apstar(str(outside / "stolen.fits"), seed=1)
    # sas/dr13/apogee/spectro/redux/r6/stars/apo25m/120-45/apStar-r6-<obj>.fits: 10 levels up
    obj = "../" * 11 + "outside/stolen"
    env = dict(os.environ, SAS_BASE_DIR=str(sas), ASTRA_OUTPUT_DIR=str(tmp_path / "out"))
    args = [sys.executable, "-m", "luigi", "--module", "astra.contrib.rocket", "EstimateSNR", "--release", "dr13",
            "--apred", "r6", "--apstar", "stars", "--telescope", "apo25m", "--field", "120-45", "--obj", obj,
            "--local-scheduler"]
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode != 0
    assert "EstimateSNR: parameter 'obj': unsafe value '../../" in out.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))

    # A newline in a key value does not reach the log as a line of its own.
    fake = "INFO: Worker Worker(salt=1) was stopped"
    args[args.index("--obj") + 1] = "2M0\n" + fake
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode != 0
    assert "2M0\\nINFO: Worker" in out.stderr
    assert not any(line.startswith(fake) for line in (out.stdout + out.stderr).splitlines())


# ---------------------------------------------------------------------- wrong layout

def _tree_with_an_aspcapstar_at_an_apstar_path(tmp_path):
    from astra.tools.synthetic import write_aspcapstar, write_sample_tree

    tree = write_sample_tree(tmp_path / "sas", 3, release="dr13", species="apStar", seed=8, snr=60)
    write_aspcapstar(tree.paths[1], seed=2, snr=300)
    return tree


def test_read_arrays_refuses_another_models_layout(tmp_path):
    from astra.tools.spectrum import read_arrays

    tree = _tree_with_an_aspcapstar_at_an_apstar_path(tmp_path)
    message = "wrong kind of file: expected apStar, but its HDU layout is that of aspcapStar"
    for kind in ("apStar", None):
        with pytest.raises(SpectrumReadError, match=message) as info:
            read_arrays(tree.paths[1], kind)
        assert info.value.path == tree.paths[1]
    with pytest.raises(SpectrumReadError, match=message):
        get("apStar").read_spectrum(tree.paths[1])
    assert read_arrays(tree.paths[0], "apStar").flux.shape[1] == 8575


def test_estimate_snr_records_a_wrong_layout_file_as_its_failure(tmp_path, monkeypatch):
    import astra
    from astra.contrib.rocket import EstimateSNR

    tree = _tree_with_an_aspcapstar_at_an_apstar_path(tmp_path)
    monkeypatch.setenv("SAS_BASE_DIR", str(tmp_path / "sas"))
    tasks = [EstimateSNR(release="dr13", **keys) for keys in tree]
    summary = astra.build(tasks)
    assert summary.done == 2 and len(summary.failed) == 1
    assert tree.paths[1] in summary.failed[0][1] and "wrong kind of file" in summary.failed[0][1]
    import os

    assert not os.path.exists(tasks[1].output().path)


def test_estimate_snr_to_database_flags_a_wrong_layout_file(tmp_path, monkeypatch, db_url):
    import astra
    from rocket_database import EstimateSNRToDatabase
    from astra.database.examples import EstimateSNRResult

    tree = _tree_with_an_aspcapstar_at_an_apstar_path(tmp_path)
    monkeypatch.setenv("SAS_BASE_DIR", str(tmp_path / "sas"))
    summary = astra.build([EstimateSNRToDatabase(release="dr13", **keys) for keys in tree])
    assert summary.done == 2 and len(summary.failed) == 1
    rows = {row.obj: row for row in EstimateSNRResult.select()}
    bad = rows[tree[1]["obj"]]
    assert bad.snr is None and bad.flag_failed
    assert "wrong kind of file" in bad.error and tree.paths[1] in bad.error
    good = rows[tree[0]["obj"]]
    assert not good.flag_failed and 40 < good.snr < 90


@pytest.mark.realdata
def test_real_files_read_through_their_data_models(real_sas):
    import os

    from astra.tools.spectrum.identify import kind_from_filename

    seen = set()
    for directory, _, files in os.walk(real_sas):
        for name in files:
            kind = kind_from_filename(name)
            if kind is None:
                continue
            path = os.path.join(directory, name)
            model = get(kind)
            model.check_layout(path)
            arrays = model.read_arrays(path)
            assert np.isfinite(arrays.flux).any()
            seen.add(kind)
    assert {"apStar", "apVisit", "spec"} <= seen


# ---------------------------------------------------------------------- SDSS-V keys in result rows

import astra  # noqa: E402
from astra.database import DatabaseOutputMixin  # noqa: E402
from astra.database.examples import EstimateSNRResult  # noqa: E402
from astra.tasks import BaseTask  # noqa: E402
from astra.tasks.io import MwmStarFile, SpecLiteFile  # noqa: E402
from astra.tasks.io.base import SpectrumKeysMixin  # noqa: E402


class _MedianSNR(DatabaseOutputMixin, SpectrumKeysMixin, BaseTask):
    """A small method over one SDSS-V data model: median flux * sqrt(ivar) to the database."""

    result_model = EstimateSNRResult
    species = None

    def requires(self):
        task_class = get(self.species).file_task
        return task_class(**self.get_common_param_kwargs(task_class))

    def process(self, task, context):
        arrays = get(self.species).read_arrays(task.input().path)
        flux, ivar = np.atleast_2d(arrays.flux)[0], np.atleast_2d(arrays.ivar)[0]
        good = ivar > 0
        return {"snr": float(np.median(flux[good] * np.sqrt(ivar[good])))}


@astra.inherits(SpecLiteFile)
class SpecLiteSNR(_MedianSNR):
    """S/N of specLite spectra."""

    species = "specLite"
    spectrum_species = "specLite"


@astra.inherits(MwmStarFile)
class MwmStarSNR(_MedianSNR):
    """S/N of mwmStar spectra."""

    species = "mwmStar"
    spectrum_species = "mwmStar"


@pytest.mark.parametrize("task_class", [SpecLiteSNR, MwmStarSNR])
def test_sdss5_keys_are_kept_in_result_rows(task_class, tmp_path, monkeypatch, db_url):
    from astra.tools.synthetic import write_sample_tree

    model = get(task_class.species)
    tree = write_sample_tree(tmp_path / "sas", 3, release="dr19", species=model.name, seed=4)
    monkeypatch.setenv("SAS_BASE_DIR", str(tmp_path / "sas"))
    summary = astra.build([task_class(release="dr19", **keys) for keys in tree])
    assert summary.done == 3 and not summary.failed
    rows = list(EstimateSNRResult.select().where(EstimateSNRResult.task_family == task_class.get_task_family()))
    assert len(rows) == 3
    got = sorted(tuple(str(getattr(row, k)) for k in ("release", *model.keys("dr19"))) for row in rows)
    want = sorted(tuple(str(v) for v in ("dr19", *(keys[k] for k in model.keys("dr19")))) for keys in tree)
    assert got == want
    assert all(row.snr > 0 for row in rows)


def test_instruments():
    assert {n for n, m in DATA_MODELS.items() if m.instrument == "apogee"} == {"apStar", "apVisit", "aspcapStar"}
    assert {n for n, m in DATA_MODELS.items() if m.instrument == "boss"} == {"spec", "specLite", "specFull"}
    assert get("mwmStar").instrument is None
