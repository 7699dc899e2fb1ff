"""astra.datamodels.find: finding files on disk, with their keys, size and mtime."""

import os

import pytest

from astra.datamodels.find import FileScan, find_files, scan_files
from astra.datamodels.paths import full_path


@pytest.mark.realdata
@pytest.mark.parametrize("release, species", [("dr13", "apStar"), ("dr13", "apVisit"), ("dr13", "spec"), ("dr16", "apVisit")])
def test_scan_files_finds_what_find_files_finds(real_sas, release, species):
    scanned = list(scan_files(release, species, sas_base_dir=real_sas))
    assert scanned and [(p, k) for p, k, _, _ in scanned] == find_files(release, species, real_sas)
    for path, _, size, mtime in scanned:
        st = os.stat(path)
        assert (size, mtime) == (st.st_size, st.st_mtime)


@pytest.mark.realdata
def test_filters_and_lists_of_values(real_sas):
    one = list(scan_files("dr13", "apStar", sas_base_dir=real_sas, field="120-45"))
    assert [k["obj"] for _, k, _, _ in one] == ["2M00452143+1634446"]
    two = list(scan_files("dr13", "apStar", sas_base_dir=real_sas, field='["120-45", "N1333"]'))
    assert sorted(k["field"] for _, k, _, _ in two) == ["120-45", "N1333"]
    with pytest.raises(ValueError, match="has no key plate"):
        FileScan("dr13", "apStar", real_sas, plate=1)


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()
    return path


@pytest.mark.parametrize("release, species, keys", [
    ("dr19", "mwmStar", {"v_astra": "0.6.0", "sdss_id": 12345678}),         # @sdss_id_groups| (two levels)
    ("dr19", "apStar", {"apred": "1.3", "apstar": "stars", "telescope": "apo25m", "healpix": 12345,
                        "obj": "2M00000000+0000000"}),                      # @healpixgrp|
])
def test_directories_made_by_special_functions_are_searched(tmp_path, release, species, keys):
    path = _touch(full_path(release, species, sas_base_dir=str(tmp_path), **keys))
    _touch(os.path.join(os.path.dirname(path), "unrelated.txt"))
    found = list(scan_files(release, species, sas_base_dir=str(tmp_path)))
    assert [p for p, *_ in found] == [path]
    got = found[0][1]
    assert all(got[k] == str(v) for k, v in keys.items() if k in got)
    assert ("sdss_id" if species == "mwmStar" else "healpix") in got
    assert find_files(release, species, str(tmp_path)) == [(path, found[0][1])]


def test_keys_are_read_only_when_asked(tmp_path):
    path = _touch(full_path("dr13", "apStar", sas_base_dir=str(tmp_path), apred="r6", apstar="stars",
                            telescope="apo25m", field="N1333", prefix="ap", obj="2M1"))
    scan = FileScan("dr13", "apStar", str(tmp_path))
    files = list(scan.files())
    assert [p for p, _, _ in files] == [path]
    assert scan.keys(path)["obj"] == "2M1" and scan.keys("/elsewhere/apStar-r6-2M1.fits") is None
