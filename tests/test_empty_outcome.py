"""``astra run``/``astra srun`` over a catalogue: an empty outcome is never silent, and a bad
``--where`` is one line naming the column (exit status 2)."""

import pytest

from astra.cli import main
from astra.commands.empty_outcome import explain_empty
from astra.database.where import BadWhereError, bad_column, count_where
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.tools import synthetic


@pytest.fixture
def catalogue(db_url, tmp_path):
    """Four synthetic dr13 apStar spectra in the catalogue."""
    synthetic.write_sample_tree(str(tmp_path / "sas"), 4, release="dr13", species="apStar", seed=3, n_visits=1)
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(tmp_path / "sas"),
                 "--no-progress"]) == 0
    return db_url


def test_three_empty_outcomes_get_three_lines(catalogue, capsys):
    capsys.readouterr()
    # no row at all for the model: the user forgot astra migrate
    assert main(["run", "snr", "BossVisitSpectrum"]) == 1
    out, err = capsys.readouterr()
    assert "0 rows in the catalogue for this model: run `astra migrate --release <release> --species spec" in err
    assert "nothing to do" not in out + err
    # rows, but --where keeps none
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar", "--where", "release = 'dr17'"]) == 1
    out, err = capsys.readouterr()
    assert "--where 'release = 'dr17'' matched 0 of 4 rows" in err.replace('"', "'") or "matched 0 of 4 rows" in err
    assert "nothing to do" not in out + err
    # every row up to date
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar"]) == 0
    capsys.readouterr()
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar"]) == 0
    assert "4 rows, all up to date in RocketSNR" in capsys.readouterr().out
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar", "--where", "release = 'dr13'"]) == 0
    assert "--where matched 4 of 4 rows, all up to date" in capsys.readouterr().out


def test_a_bad_where_is_one_line_naming_the_column(catalogue, capsys):
    capsys.readouterr()
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar", "--where", "snrr > 3"]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert "no column 'snrr' in ApogeeCoaddedSpectrumInApStar; its columns: spectrum_pk," in err
    assert " snr," in err and "Traceback" not in err
    with pytest.raises(BadWhereError) as error:
        count_where(Star, "snr >")
    assert "its columns:" in str(error.value) and "\n" not in str(error.value)


def test_the_database_names_the_bad_column():
    assert bad_column("no such column: snrr") == "snrr"
    assert bad_column('column "snrr" does not exist\nLINE 1: ...') == "snrr"
    assert bad_column('column t1.snrr does not exist') == "snrr"
    assert bad_column("syntax error") is None


def test_explain_empty_within_ranges(catalogue):
    from astra.tasks.function_runner import load_task_function

    snr = load_task_function("snr")
    outcome = explain_empty(snr, Star, ranges=[(1000, 2000)])
    assert outcome.exit_code == 1 and "0 of 4 rows in spectrum_pk 1000..2000" in outcome.line


def test_srun_says_the_same_before_submitting_anything(catalogue, capsys):
    capsys.readouterr()
    assert main(["srun", "snr", "ApogeeCoaddedSpectrumInApStar", "--where", "snrr > 3", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no column 'snrr' in ApogeeCoaddedSpectrumInApStar" in err
    assert main(["srun", "snr", "BossVisitSpectrum", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "0 rows in the catalogue for this model: run `astra migrate" in err and "no job submitted" in err
