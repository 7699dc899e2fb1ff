"""``astra find``: a star's results among the hash-named outputs."""

import json

from astra.cli import main
from astra.tools import synthetic

EstimateSNR = "astra.contrib.rocket.EstimateSNR"


def test_find_prints_one_stars_output_and_whether_it_exists(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=11)
    obj = keys[1]["obj"]
    find = ["find", EstimateSNR, "--release", "dr13", "--sas-base-dir", sas, "--obj", obj]
    assert main(find) == 1
    line = capsys.readouterr().out.strip()
    state, path, where = line.split("\t")
    assert state == "missing" and path.startswith(str(tmp_path / "output" / "EstimateSNR"))
    assert f"obj={obj}" in where

    assert main(["run", EstimateSNR, "--release", "dr13", "--sas-base-dir", sas]) == 0
    capsys.readouterr()
    assert main(find) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"done\t{path}\t{where}"
    with open(path) as fp:
        assert json.load(fp)["path"].endswith(f"-{obj}.fits")   # the result of that star's file
    assert "1 of 1 spectra have results" in err


def test_find_all_and_only_missing(tmp_path, capsys):
    sas = str(tmp_path / "sas")
    synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=12)
    assert main(["find", EstimateSNR, "--release", "dr13", "--sas-base-dir", sas, "--missing"]) == 1
    assert capsys.readouterr().out.count("missing\t") == 2
