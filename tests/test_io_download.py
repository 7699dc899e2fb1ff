"""Tests of astra.tasks.io.download against a real HTTP server on 127.0.0.1."""

import base64
import http.server
import logging
import os
import shutil
import threading
import time
import urllib.parse

import luigi
import numpy as np
import pytest
from astropy.io import fits

import astra.config
from astra.tasks.io import ApVisitFile, DownloadError
from astra.tasks.io import download as dl

RELATIVE = "dr16/apogee/spectro/redux/r12/visit/apo25m/N188/5095/55844/apVisit-r12-5095-55844-128.fits"
KEYS = dict(release="dr16", apred="r12", telescope="apo25m", field="N188", plate=5095, mjd=55844, fiber=128)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.root`` under ``/sas/``; may cut the first responses or demand auth."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests += 1
        if server.credentials is not None:
            expected = "Basic " + base64.b64encode(server.credentials.encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="SDSS"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        relative = urllib.parse.unquote(self.path.split("/sas/", 1)[-1])  # "+" comes as %2B
        path = os.path.join(server.root, relative)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as fp:
            data = fp.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if getattr(server, "stall_after", None) is not None:
            # Promise the whole file, send the first bytes, stall (until the test lets go).
            self.wfile.write(data[: server.stall_after])
            self.wfile.flush()
            server.released.wait(60)
            self.close_connection = True
            return
        if server.cuts_left > 0:
            # Promise the whole file, send half, hang up.
            server.cuts_left -= 1
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A threaded HTTP server on 127.0.0.1 serving ``tmp_path/remote`` as a SAS tree."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root = str(tmp_path / "remote")
    httpd.requests = 0
    httpd.cuts_left = 0
    httpd.credentials = None
    httpd.stall_after = None
    httpd.released = threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/sas"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.released.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _fits_file(path):
    """Write a small apVisit-like FITS file (primary + three image HDUs + a table)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(1)
    hdus = [fits.PrimaryHDU(header=fits.Header({"TELESCOP": "apo25m", "SURVEY": "apogee"}))]
    hdus += [fits.ImageHDU(rng.normal(size=(3, 4096)).astype(np.float32)) for _ in range(3)]
    hdus.append(fits.BinTableHDU.from_columns([fits.Column(name="X", format="D", array=np.arange(100.0))]))
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.fixture
def remote_file(server):
    return _fits_file(os.path.join(server.root, RELATIVE))


@pytest.fixture
def local_sas(tmp_path, monkeypatch):
    root = tmp_path / "local-sas"
    monkeypatch.setenv("SAS_BASE_DIR", str(root))
    return root


def _read(path):
    with open(path, "rb") as fp:
        return fp.read()


def _leftovers(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_download_ok(server, remote_file, tmp_path):
    destination = str(tmp_path / "out" / "a.fits")
    assert dl.download(f"{server.url}/{RELATIVE}", destination, retries=0) == destination
    with open(destination, "rb") as got, open(remote_file, "rb") as want:
        assert got.read() == want.read()
    assert _leftovers(tmp_path / "out") == ["a.fits"]


def test_cut_connection_leaves_nothing(server, remote_file, tmp_path):
    server.cuts_left = 10
    destination = tmp_path / "out" / "a.fits"
    with pytest.raises(DownloadError, match=r"after 3 attempts.*(IncompleteRead|received)"):
        dl.download(f"{server.url}/{RELATIVE}", str(destination), retries=2, backoff=0.01)
    assert server.requests == 3
    assert _leftovers(destination.parent) == []


def test_retry_succeeds_after_the_server_recovers(server, remote_file, tmp_path, caplog):
    server.cuts_left = 2
    destination = tmp_path / "out" / "a.fits"
    with caplog.at_level(logging.WARNING, logger="astra"):
        dl.download(f"{server.url}/{RELATIVE}", str(destination), retries=3, backoff=0.01)
    assert server.requests == 3
    assert destination.read_bytes() == _read(remote_file)
    assert _leftovers(destination.parent) == ["a.fits"]
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 2


def test_truncated_file_on_the_server_is_rejected(server, tmp_path):
    good = _fits_file(str(tmp_path / "good.fits"))
    data = _read(good)
    served = os.path.join(server.root, RELATIVE)
    os.makedirs(os.path.dirname(served))
    with open(served, "wb") as fp:
        fp.write(data[: len(data) * 2 // 3])  # complete HTTP response of an incomplete FITS file
    destination = tmp_path / "out" / "a.fits"
    with pytest.raises(DownloadError, match="not a complete FITS file"):
        dl.download(f"{server.url}/{RELATIVE}", str(destination), retries=1, backoff=0.01)
    assert _leftovers(destination.parent) == []


def test_empty_file_is_rejected(server, tmp_path):
    served = os.path.join(server.root, "empty.fits")
    os.makedirs(server.root, exist_ok=True)
    open(served, "wb").close()
    destination = tmp_path / "out" / "empty.fits"
    with pytest.raises(DownloadError, match="empty"):
        dl.download(f"{server.url}/empty.fits", str(destination), retries=0)
    assert not destination.exists()


def test_not_found_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        dl.download(f"{server.url}/nothing.fits", str(tmp_path / "x.fits"), retries=5, backoff=10)
    assert server.requests == 1


def test_basic_auth_from_netrc(server, remote_file, tmp_path, monkeypatch):
    server.credentials = "sdss:secret"
    destination = tmp_path / "out" / "a.fits"
    url = f"{server.url}/{RELATIVE}"
    monkeypatch.setenv("NETRC", str(tmp_path / "missing-netrc"))
    with pytest.raises(DownloadError, match=r"HTTP 401.*netrc"):
        dl.download(url, str(destination), retries=0)
    netrc_path = tmp_path / "netrc"
    netrc_path.write_text("machine 127.0.0.1 login sdss password secret\n")
    monkeypatch.setenv("NETRC", str(netrc_path))
    dl.download(url, str(destination), retries=0)
    assert destination.read_bytes() == _read(remote_file)


def test_netrc_in_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".netrc").write_text("machine data.sdss.org login user password pw\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NETRC", raising=False)
    assert dl.netrc_credentials("data.sdss.org") == ("user", "pw")
    assert dl.netrc_credentials("elsewhere.org") is None


def test_remote_url_uses_setting(monkeypatch):
    monkeypatch.setenv("ASTRA_SAS_URL", "https://mirror.example/sas/")
    astra.config.reload()
    assert dl.remote_url(RELATIVE) == f"https://mirror.example/sas/{RELATIVE}"
    task = ApVisitFile(**KEYS)
    assert task.remote_urls() == [f"https://mirror.example/sas/{RELATIVE}"]


def _use_server(server, tmp_path, monkeypatch):
    config = tmp_path / "astra.yml"
    config.write_text("download_backoff: 0.01\ndownload_retries: 3\ndownload_timeout: 10\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(config))
    monkeypatch.setenv("ASTRA_SAS_URL", server.url)
    astra.config.reload()


def test_task_downloads_in_its_own_step(server, remote_file, local_sas, tmp_path, monkeypatch):
    _use_server(server, tmp_path, monkeypatch)
    server.cuts_left = 1
    task = ApVisitFile(**KEYS, use_remote=True)
    assert not task.complete()
    result = luigi.build([task], local_scheduler=True, log_level="WARNING", detailed_summary=True)
    assert result.status == luigi.LuigiStatusCode.SUCCESS
    assert task.complete()
    assert task.local_path == str(local_sas / RELATIVE)
    assert _read(task.local_path) == _read(remote_file)


def test_task_batch_download_reports_failures_and_keeps_the_rest(server, remote_file, local_sas, tmp_path, monkeypatch):
    _use_server(server, tmp_path, monkeypatch)
    batch = ApVisitFile(**dict(KEYS, fiber=(128, 129)), use_remote=True)
    with pytest.raises(DownloadError, match="1 of 2 files"):
        batch.run()
    first, second = batch.local_paths()
    assert os.path.exists(first) and not os.path.exists(second)
    assert _leftovers(os.path.dirname(second)) == [os.path.basename(first)]


def test_task_without_use_remote_does_not_download(server, remote_file, local_sas, tmp_path, monkeypatch):
    _use_server(server, tmp_path, monkeypatch)
    task = ApVisitFile(**KEYS)
    result = luigi.build([task], local_scheduler=True, log_level="WARNING", detailed_summary=True)
    assert result.status == luigi.LuigiStatusCode.MISSING_EXT
    assert server.requests == 0


@pytest.mark.realdata
def test_real_file_round_trip(real_sas, server, local_sas, tmp_path, monkeypatch):
    source = os.path.join(real_sas, RELATIVE)
    os.makedirs(os.path.dirname(os.path.join(server.root, RELATIVE)))
    shutil.copy(source, os.path.join(server.root, RELATIVE))
    _use_server(server, tmp_path, monkeypatch)
    server.cuts_left = 2
    task = ApVisitFile(**KEYS, use_remote=True)
    task.run()
    assert _read(task.local_path) == _read(source)
    dl.verify_fits(task.local_path)


def test_a_killed_downloads_temporary_file_is_removed_by_the_next(server, remote_file, tmp_path):
    import signal
    import subprocess
    import sys

    destination = tmp_path / "out" / "a.fits"
    # A real download process, stopped mid-body and SIGKILLed: its temporary file stays.
    server.stall_after = 100
    script = (
        "import sys; from astra.tasks.io import download as dl; "
        "dl.download(sys.argv[1], sys.argv[2], retries=0, timeout=600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, f"{server.url}/{RELATIVE}", str(destination)])
    try:
        deadline = time.monotonic() + 60
        while not _leftovers(destination.parent) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _leftovers(destination.parent)
        assert len(left) == 1 and f"-{proc.pid}-" in left[0]
        # While its writer lives, the next download keeps it (and writes its own).
        server.stall_after = None
        dl.download(f"{server.url}/{RELATIVE}", str(destination), retries=0)
        assert left[0] in _leftovers(destination.parent)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        server.released.set()
    os.unlink(destination)
    dl.download(f"{server.url}/{RELATIVE}", str(destination), retries=0)
    assert _leftovers(destination.parent) == ["a.fits"]


# ---------------------------------------------------------------------- keys that leave the SAS root

TRAVERSAL = "../../../../../../../../../../escaped"


def test_traversal_key_is_refused_before_any_download(server, remote_file, local_sas, tmp_path, monkeypatch):
    _use_server(server, tmp_path, monkeypatch)
    # What the server would hand out for the escaping path, were it asked.
    os.makedirs(os.path.join(server.root, "escaped"), exist_ok=True)
    with pytest.raises(ValueError, match=r"ApVisitFile: parameter 'field': unsafe value '\.\./\.\./"):
        ApVisitFile(**dict(KEYS, field=TRAVERSAL), use_remote=True)
    assert server.requests == 0
    assert not os.path.exists(tmp_path / "escaped")


def test_download_refuses_a_path_outside_the_sas_root(server, remote_file, local_sas, tmp_path, monkeypatch):
    # Defence in depth: keys that bypassed the parameter check still cannot place a file
    # outside SAS_BASE_DIR, nor ask the server for one.
    from astra.tasks.io.paths import OutsideSASError

    _use_server(server, tmp_path, monkeypatch)
    task = ApVisitFile(**KEYS, use_remote=True)
    task.param_kwargs["field"] = TRAVERSAL
    with pytest.raises(OutsideSASError, match="outside the SAS root"):
        task.run()
    with pytest.raises(OutsideSASError):
        task.remote_urls()
    assert server.requests == 0
    assert not any(name.startswith("escaped") for name in os.listdir(tmp_path))


def test_a_failed_download_fails_only_its_own_spectrum(server, local_sas, tmp_path, monkeypatch):
    """A class-style batch with use_remote: one file is not on the server (HTTP 404); that spectrum
    fails with the download's reason, the other two are downloaded and analysed, on every re-run."""
    import astra
    from astra.contrib.rocket import EstimateSNR
    from astra.tools import synthetic

    _use_server(server, tmp_path, monkeypatch)
    tree = synthetic.write_sample_tree(server.root, 3, release="dr13", species="apStar", seed=3, snr=50, n_visits=1)
    gone = sorted(tree.paths)[1]
    os.unlink(gone)  # the server answers 404 for it
    relative = os.path.relpath(gone, server.root)
    columns = {name: tuple(keys[name] for keys in tree) for name in tree[0]}
    task = EstimateSNR(release="dr13", use_remote=True, **columns)
    assert task.get_batch_size() == 3

    for attempt in range(2):
        summary = astra.build([task])
        assert summary.done == 2 and summary.n_failed == 1 and not summary.not_run, summary
        ((task_id, reason),) = summary.failed
        assert "download failed" in reason and "HTTP 404" in reason and relative in reason, reason
        assert summary.skipped == 2 * attempt  # the downloaded spectra are kept, not fetched again
    downloaded = [p for p in sorted(tree.paths) if p != gone]
    for path in downloaded:
        assert os.path.exists(os.path.join(str(local_sas), os.path.relpath(path, server.root)))
    assert not os.path.exists(os.path.join(str(local_sas), relative))
    assert sum(1 for m in task.get_batch_tasks() if m.complete()) == 2
