"""Seed 002's ``EstimateSNRofApVisit`` under ``luigi --module``: as the seed writes it, one line
naming ``@astra.inherits``; as docs/coming-from-sdss-astra.rst writes it, it runs on a real
apVisit file (``np.sqrt(spectrum.uncertainty)`` included)."""

import os
import pickle
import shutil
import subprocess
import sys

import pytest

from test_docs import _literal_block_after

DOC = "docs/coming-from-sdss-astra.rst"
APVISIT = "dr16/apogee/spectro/redux/r12/visit/apo25m/N188/5095/55844/apVisit-r12-5095-55844-128.fits"
ARGS = ["--release", "dr16", "--apred", "r12", "--telescope", "apo25m", "--field", "N188", "--plate", "5095",
        "--mjd", "55844", "--fiber", "128", "--local-scheduler"]


def _example():
    return _literal_block_after(DOC, "The whole example as it runs here")


def _luigi(tmp_path, module):
    env = dict(os.environ, SAS_BASE_DIR=str(tmp_path / "sas"), ASTRA_OUTPUT_DIR=str(tmp_path / "out"),
               HOME=str(tmp_path), PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "luigi", "--module", module, "EstimateSNRofApVisit", *ARGS],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def test_the_seed_as_written_fails_in_one_line_naming_the_decorator(tmp_path):
    example = _example()
    as_seed = example.replace("import astra\n", "").replace("@astra.inherits(ApVisitFile)\n", "")
    assert "inherits" not in as_seed
    (tmp_path / "snrvisit_seed.py").write_text(as_seed)
    out = _luigi(tmp_path, "snrvisit_seed")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert "EstimateSNRofApVisit has no parameter --release --apred --telescope --field --plate --mjd --fiber" \
           in out.stderr
    assert "decorate the class with @astra.inherits(ApVisitFile)" in out.stderr


def test_other_unknown_arguments_keep_luigis_message(tmp_path):
    (tmp_path / "snrvisit.py").write_text(_example())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "luigi", "--module", "snrvisit", "EstimateSNRofApVisit",
                          "--no-such-thing", "1", "--local-scheduler"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 2 and "unrecognized arguments: --no-such-thing" in out.stderr


@pytest.mark.realdata
def test_the_documented_example_runs_under_luigi_module(tmp_path, real_sas):
    (tmp_path / "snrvisit.py").write_text(_example())
    target = tmp_path / "sas" / APVISIT
    target.parent.mkdir(parents=True)
    shutil.copy(os.path.join(real_sas, APVISIT), target)  # the output goes beside it
    out = _luigi(tmp_path, "snrvisit")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 ran successfully" in out.stderr
    with open(str(target).replace(".fits", "-snr.pkl"), "rb") as fp:
        (snr,) = pickle.load(fp)
    assert 5 < float(getattr(snr, "value", snr)) < 1000


def test_numpy_takes_the_square_root_of_the_uncertainty():
    import numpy as np
    from astropy.nddata import InverseVariance as AstropyInverseVariance

    from astra.tools.spectrum.utils import make_spectrum

    spectrum = make_spectrum(np.arange(1.0, 5.0), np.ones(4), [4.0, 1.0, 0.0, 9.0], None, 0, {})
    assert isinstance(spectrum.uncertainty, AstropyInverseVariance)
    assert list(np.sqrt(spectrum.uncertainty)) == [2.0, 1.0, 0.0, 3.0]
    assert list((spectrum.flux * np.sqrt(spectrum.uncertainty)).value) == [2.0, 1.0, 0.0, 3.0]


def test_the_real_data_skip_reason_means_something_in_a_users_checkout():
    from real_files import MISSING_REAL_SAS

    assert "../shared" not in MISSING_REAL_SAS and "ASTRA_TEST_SAS" in MISSING_REAL_SAS
    assert "apStar" in MISSING_REAL_SAS and "apVisit" in MISSING_REAL_SAS
