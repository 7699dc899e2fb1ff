"""astra run / astra demo: find spectra on disk, batch, run, summarise."""

import csv

import pytest

from astra.cli import main
from astra.tasks.io.find import find_files
from astra.tools import synthetic


@pytest.mark.realdata
def test_find_files_on_real_tree(real_sas):
    assert len(find_files("dr13", "apStar", real_sas)) == 4
    assert len(find_files("dr13", "apVisit", real_sas)) == 3
    one = find_files("dr13", "apStar", real_sas, field="120-45")
    assert [keys["obj"] for _, keys in one] == ["2M00452143+1634446"]
    with pytest.raises(ValueError, match="no key colour"):
        find_files("dr13", "apStar", real_sas, colour="red")


def test_run_over_generated_tree_with_a_corrupt_file(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    tree = synthetic.write_sample_tree(sas, 30, release="dr13", species="apStar", seed=5, corrupt=1)
    (index,) = tree.corrupt
    bad = tree.paths[index]
    args = ["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--species", "apStar",
            "--sas-base-dir", sas, "--max-batch-size", "8"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "29 spectra done (0 already complete), 1 failed" in out and bad in out

    # A re-run retries only the failed one.
    synthetic.write_apstar(bad, seed=9)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "30 spectra done (29 already complete), 0 failed" in out


def test_run_with_keys_table_and_limit(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 6, release="dr13", species="apStar", seed=6)
    table = tmp_path / "keys.csv"
    with open(table, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=list(keys[0]))
        writer.writeheader()
        writer.writerows(keys[:4])
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--keys-table", str(table),
                 "--sas-base-dir", sas, "--limit", "3"]) == 0
    assert "3 spectra done" in capsys.readouterr().out


def test_run_errors_are_one_line(capsys):
    assert main(["run", "astra.contrib.rocket.Nope", "--release", "dr13"]) == 2
    assert "has no task 'Nope'" in capsys.readouterr().err
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--bogus", "1"]) == 2
    assert "no parameter 'bogus'" in capsys.readouterr().err


def test_run_names_a_sas_root_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "no-such-sas"
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--species", "apStar",
                 "--sas-base-dir", str(missing)]) == 1
    assert f"under {missing}, which does not exist" in capsys.readouterr().err


def test_demo_on_generated_spectra(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SAS_BASE_DIR", raising=False)
    assert main(["demo", "-n", "12"]) == 0
    out = capsys.readouterr().out
    assert "12 spectra done (0 already complete), 0 failed" in out
    assert str(tmp_path / "output" / "EstimateSNR") in out
    histogram = tmp_path / "output" / "EstimateSNR" / "snr-histogram.png"
    assert histogram.exists() and histogram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"(injected S/N marked): {histogram}" in out


def test_demo_histogram_marks_the_injected_snr_with_whole_number_counts():
    from astra.commands.demo import DEMO_SNR, histogram_figure

    fig = histogram_figure([14.8, 15.1, 39.7, 40.2, 40.4, 81.0, 148.0], injected=DEMO_SNR)
    (ax,) = fig.axes
    marked = sorted(line.get_xdata()[0] for line in ax.lines)
    assert marked == list(DEMO_SNR)
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["measured", "injected"]


def test_demo_sizes_do_not_mix(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SAS_BASE_DIR", raising=False)
    assert main(["demo", "-n", "4"]) == 0
    assert main(["demo", "-n", "8"]) == 0
    assert "EstimateSNR: 8 spectra;" in capsys.readouterr().out


@pytest.mark.realdata
def test_find_files_with_a_list_of_values(real_sas):
    found = find_files("dr13", "apStar", real_sas, field='["120-45", "009+09"]')
    assert sorted(keys["field"] for _, keys in found) == ["009+09", "120-45"]
    assert len(find_files("dr13", "apStar", real_sas, field=("N1333",))) == 1


def test_keys_table_with_a_release_column(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=8)
    table = tmp_path / "keys.csv"
    with open(table, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=["release", *keys[0]])
        writer.writeheader()
        writer.writerows({"release": "dr13", **k} for k in keys)
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--keys-table", str(table),
                 "--sas-base-dir", sas]) == 0
    assert "3 spectra done" in capsys.readouterr().out


def test_prefix_given_or_derived_is_one_task(tmp_path, monkeypatch):
    from astra.contrib.rocket import EstimateSNR

    kw = dict(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="120-45", obj="2M00452143+1634446")
    assert EstimateSNR(**kw).task_id == EstimateSNR(prefix="ap", **kw).task_id
    mixed = EstimateSNR(**{**kw, "field": ("120-45", "009+09"), "obj": ("a", "b")}, prefix=("ap", None))
    assert mixed.prefix == ("ap", "ap")


def _keys_table(path, rows):
    with open(path, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_keys_table_with_a_traversal_key_is_refused(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=6)
    outside = tmp_path / "outside.fits"
    synthetic.write_apstar(str(outside), seed=1)
    bad = dict(keys[1], obj="../../../../../../../../../../../../../../" + str(outside)[1:-5])
    table = tmp_path / "keys.csv"
    _keys_table(table, [keys[0], bad, keys[2]])
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--keys-table", str(table),
                 "--sas-base-dir", sas]) == 2
    err = capsys.readouterr().err
    assert f"keys table {table}, row 2, key 'obj': unsafe value '../../" in err
    assert not (tmp_path / "output").exists() or not list((tmp_path / "output").rglob("*.json"))


def test_keys_table_newline_key_is_escaped_in_messages_and_logs(tmp_path, capsys, caplog):
    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=6)
    fake = "INFO: 2 spectra done, 0 failed"
    table = tmp_path / "keys.csv"
    _keys_table(table, [keys[0], dict(keys[1], field="120-45\n" + fake)])
    with caplog.at_level("DEBUG"):
        assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--keys-table", str(table),
                     "--sas-base-dir", sas]) == 2
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "120-45\\nINFO: 2 spectra done" in text
    assert not any(line.startswith(fake) for line in text.splitlines())


def test_search_filter_with_a_traversal_key_is_refused(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=6)
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--sas-base-dir", sas,
                 "--field", "../../.."]) == 2
    assert "apStar in dr13: key 'field': unsafe value '../../..'" in capsys.readouterr().err


def test_species_is_found_in_any_case_and_typos_get_a_suggestion(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=6)
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--species", "apstar",
                 "--sas-base-dir", sas]) == 0
    assert "2 spectra done" in capsys.readouterr().out
    assert main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--species", "apStr",
                 "--sas-base-dir", sas]) == 2
    assert "did you mean 'apStar'?" in capsys.readouterr().err
