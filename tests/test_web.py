"""astra web: the JSON API, the pages, starting/stopping/retrying runs, CSRF and the token.

The application runs in-process (Flask's test client) over a real SQLite results database;
the runs it starts are real ``astra run`` subprocesses.
"""

import re
import time

import pytest

from astra.cli import main
from astra.tools import synthetic
from web_fixtures import web_config  # noqa: F401

pytest.importorskip("flask")


@pytest.fixture
def app(web_config):
    from astra.web import launch
    from astra.web.app import create_app

    yield create_app()
    launch.stop_all()  # no run process outlives its test


@pytest.fixture
def client(app):
    return app.test_client()


def _csrf(client, path="/start/WatchableSNR"):
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match:
        return match.group(1)
    with client.session_transaction() as session:
        return session["csrf"]


def _run_with_a_broken_spectrum(web_config, n=12):
    tree = synthetic.write_sample_tree(web_config["sas"], n, release="dr13", species="apStar", seed=4, corrupt=1)
    (index,) = tree.corrupt
    code = main(["run", "web_tasks.WatchableSNR", "--release", "dr13", "--max-batch-size", "5"])
    assert code == 1
    return tree, tree.paths[index]


def _wait_for_run(client, run_id, states=("done", "failed", "error", "stopped"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").get_json()["run"]
        if run["state"] in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {run['state']} after {timeout}s")


def test_api_lists_runs_with_counts_batches_failures_and_logs(client, web_config):
    tree, broken = _run_with_a_broken_spectrum(web_config)
    runs = client.get("/api/runs").get_json()
    (run,) = runs["runs"]
    assert runs["next_before"] is None
    assert (run["state"], run["total"], run["done"], run["failed"], run["percent"]) == ("failed", 12, 11, 1, 100)
    assert run["task"] == "web_tasks.WatchableSNR" and run["kind"] == "astra run" and run["host"]
    detail = client.get(f"/api/runs/{run['id']}").get_json()
    assert [b["total"] for b in detail["batches"]] == [5, 5, 2] and detail["failures"] == 1
    assert all(b["summary"].split(":")[0].endswith("spectra") for b in detail["batches"])
    (failure,) = client.get(f"/api/runs/{run['id']}/failures").get_json()["failures"]
    assert failure["path"] == broken and failure["reason"] and failure["keys"]["release"] == "dr13"

    log = client.get(f"/api/runs/{run['id']}/log?offset=-1").get_json()
    assert f"run {run['id']} started" in log["text"] and log["offset"] == log["size"]
    again = client.get(f"/api/runs/{run['id']}/log?offset={log['offset']}").get_json()
    assert again["text"] == "" and again["offset"] == log["offset"]
    batch = detail["batches"][0]
    batch_log = client.get(f"/api/runs/{run['id']}/batches/{batch['id']}/log").get_json()
    assert "5/5 spectra" in batch_log["text"]
    assert client.get(f"/api/runs/{run['id']}/batches/{batch['id']}").get_json()["batch"]["state"] == (
        "failed" if batch["failed"] else "done")

    for page in ("/runs", f"/runs/{run['id']}", f"/runs/{run['id']}/batches/{batch['id']}",
                 f"/failures?run={run['id']}", "/start", "/start/WatchableSNR", "/results"):
        response = client.get(page)
        assert response.status_code == 200, page
    assert broken in client.get("/failures").get_data(as_text=True)
    assert client.get("/api/runs/999").status_code == 404
    assert client.get("/api/runs?before=x").status_code == 400


def test_runs_list_pages_by_id(client, web_config):
    from astra.models.run import Run

    Run.insert_many([{"kind": "astra.build", "state": "done", "total": i} for i in range(250)]).execute()
    first = client.get("/api/runs?limit=100").get_json()
    assert len(first["runs"]) == 100 and first["runs"][0]["id"] == 250
    second = client.get(f"/api/runs?limit=100&before={first['next_before']}").get_json()
    assert second["runs"][0]["id"] == 150
    third = client.get(f"/api/runs?limit=100&before={second['next_before']}").get_json()
    assert len(third["runs"]) == 50 and third["next_before"] is None
    assert client.get("/runs").get_data(as_text=True).count("data-run-id=") == 100


def test_the_start_form_shows_flags_with_their_descriptions(client):
    page = client.get("/start/WatchableSNR").get_data(as_text=True)
    assert 'type="checkbox" name="slow_down"' in page
    assert "Take 25 ms per spectrum, so the progress can be watched" in page
    assert "ignore pixels flagged bad in the bitmask" in page  # use_pixel_mask, checked by default
    assert re.search(r'name="use_pixel_mask" id="flag-use_pixel_mask"\s+checked', page)
    assert 'name="min_good_pixels" type="number" step="1"' in page
    assert 'name="obj"' not in page and 'name="astra_version_major"' not in page


def test_start_and_stop_a_run_from_the_api(client, web_config):
    synthetic.write_sample_tree(web_config["sas"], 400, release="dr13", species="apStar", seed=8)
    csrf = _csrf(client)
    response = client.post("/api/runs", json={"task": "WatchableSNR", "release": "dr13", "species": "apStar",
                                              "slow_down": True, "max_batch_size": 100},
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.get_data(as_text=True)
    run_id = response.get_json()["run"]["id"]
    _wait_for_run(client, run_id, states=("running",))
    deadline = time.monotonic() + 60
    while client.get(f"/api/runs/{run_id}").get_json()["run"]["done"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.post(f"/api/runs/{run_id}/stop", headers={"X-CSRF-Token": csrf}).get_json()["stopping"]
    run = _wait_for_run(client, run_id)
    assert run["state"] == "stopped" and 0 < run["done"] < 400 and run["exit_code"] != 0
    assert run["parameters"]["task_parameters"]["slow_down"] == "true"
    # A run that is not a process of this server cannot be stopped from it.
    assert not client.post(f"/api/runs/{run_id}/stop", headers={"X-CSRF-Token": csrf}).get_json()["stopping"]


def test_retry_runs_the_failed_spectra_again(client, web_config):
    from astra.models.run import RunFailure

    tree, broken = _run_with_a_broken_spectrum(web_config, n=6)
    (failure,) = RunFailure.select()
    synthetic.write_apstar(broken, seed=21)  # the file is fixed
    response = client.post("/failures/retry", data={"failure": str(failure.id), "csrf_token": _csrf(client, "/failures")})
    assert response.status_code == 302
    retry_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    run = _wait_for_run(client, retry_id)
    assert (run["state"], run["total"], run["done"], run["failed"]) == ("done", 1, 1, 0), run
    assert run["parameters"]["retry_of"] == [failure.id]
    assert RunFailure.get_by_id(failure.id).retried_by_id == retry_id


def test_forms_refuse_posts_without_the_csrf_token(client, web_config):
    from astra.models.run import Run

    run = Run.create(kind="astra web", state="running")
    assert client.post("/start/WatchableSNR", data={"release": "dr13", "species": "apStar"}).status_code == 400
    assert client.post("/start/WatchableSNR", data={"release": "dr13", "csrf_token": "forged"}).status_code == 400
    assert client.post(f"/runs/{run.id}/stop").status_code == 400
    assert client.post("/failures/retry", data={"failure": "1"}).status_code == 400
    assert client.post("/api/runs", data={"task": "WatchableSNR"}).status_code == 400  # a form post: CSRF
    forged = client.post("/api/runs", json={"task": "WatchableSNR"}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 400 and "CSRF" in forged.get_json()["description"]
    # Another browser session's token is not this one's.
    other = client.application.test_client()
    stolen = _csrf(other)
    assert client.post(f"/runs/{run.id}/stop", data={"csrf_token": stolen}).status_code == 400
    assert Run.select().count() == 1
    # With the token, a bad form is reported on the form, naming the field; nothing starts.
    response = client.post("/start/WatchableSNR", data={"release": "dr13", "species": "apStar",
                                                        "min_good_pixels": "many", "csrf_token": _csrf(client)})
    assert response.status_code == 400 and "min_good_pixels" in response.get_data(as_text=True)
    response = client.post("/start/WatchableSNR", data={"release": "dr13", "species": "apStar",
                                                        "filters": "colour=red", "csrf_token": _csrf(client)})
    assert response.status_code == 400 and "has no key &#39;colour&#39;" in response.get_data(as_text=True)
    assert Run.select().count() == 1


def test_only_registered_tasks_can_be_started(client):
    csrf = _csrf(client)
    assert client.get("/start/os.system").status_code == 404
    assert client.get("/start/EstimateSNRToDatabase").status_code == 404  # importable, not registered
    response = client.post("/api/runs", json={"task": "astra.contrib.rocket.EstimateSNRToDatabase",
                                              "release": "dr13", "species": "apStar"}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 404 and "not a registered task" in response.get_json()["description"]
    assert client.post("/start/os.system", data={"csrf_token": csrf}).status_code == 404


def test_the_token_guards_work_when_it_is_set(app, web_config):
    from astra.models.run import Run
    from astra.web.app import create_app

    app = create_app(token="s3cret")
    client = app.test_client()
    base = "http://192.0.2.10:8000"  # not a loopback host: allowed, as the token is set
    run = Run.create(kind="astra web", state="running")
    csrf = _csrf(client, base + "/start/WatchableSNR")
    # A valid CSRF token is not enough: starting, stopping and retrying need the access token.
    assert client.post(base + f"/runs/{run.id}/stop", data={"csrf_token": csrf}).status_code == 403
    assert client.post(base + "/start/WatchableSNR", data={"release": "dr13", "species": "apStar",
                                                           "csrf_token": csrf}).status_code == 403
    assert client.post(base + "/failures/retry", data={"failure": "1", "csrf_token": csrf}).status_code == 403
    assert client.post(base + "/api/runs", json={"task": "WatchableSNR"},
                       headers={"Authorization": "Bearer wrong"}).status_code == 403
    # Reading needs no token.
    assert client.get(base + "/api/runs").status_code == 200
    # A wrong token at /login is refused; the right one authorises the session.
    client.post(base + "/login", data={"token": "nope", "csrf_token": csrf})
    assert client.post(base + f"/runs/{run.id}/stop", data={"csrf_token": csrf}).status_code == 403
    assert client.post(base + "/login", data={"token": "s3cret", "csrf_token": csrf}).status_code == 302
    for target in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):  # no redirect off the site
        response = client.post(base + "/login", query_string={"next": target}, data={"token": "s3cret", "csrf_token": csrf})
        assert response.headers["Location"] == "/runs", target
    assert client.post(base + f"/runs/{run.id}/stop", data={"csrf_token": csrf}).status_code == 302
    # An API client sends the token as a Bearer header (no CSRF token needed, no session).
    api = app.test_client()
    response = api.post(base + f"/api/runs/{run.id}/stop", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200 and response.get_json() == {"stopping": False, "run": run.id}


def test_without_a_token_only_loopback_hosts_are_served(client):
    assert client.get("/api/runs", base_url="http://localhost:8000").status_code == 200
    assert client.get("/api/runs", base_url="http://[::1]:8000").status_code == 200
    response = client.get("/api/runs", base_url="http://evil.example:8000")
    assert response.status_code == 403 and "loopback" in response.get_json()["description"]


def test_is_loopback():
    from astra.web.security import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.1.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_results_pages_filters_plot_and_fits_download(client, web_config):
    from astropy.io import fits

    from astra.contrib.rocket.results import EstimateSNRResult

    _run_with_a_broken_spectrum(web_config, n=60)
    total = EstimateSNRResult.select().count()
    assert total in (59, 60)  # the broken spectrum may have a row flagged failed
    name = EstimateSNRResult._meta.table_name
    page = client.get(f"/results/{name}").get_data(as_text=True)
    assert page.count("<tr><td>") == 50 and 'id="next-page"' in page
    assert '<th>t_elapsed <span class="unit">[s]</span></th>' in page  # the column's unit
    last = re.search(r"after=(\d+)", page).group(1)
    second = client.get(f"/results/{name}?after={last}").get_data(as_text=True)
    assert second.count("<tr><td>") == 10 and 'id="next-page"' not in second and "before=" in second
    high = EstimateSNRResult.select().where(EstimateSNRResult.snr >= 40).count()
    assert 0 < high < total
    filtered = client.get(f"/results/{name}?snr_min=40").get_data(as_text=True)
    assert filtered.count("<tr><td>") == min(high, 50)

    plot = client.get(f"/results/{name}/plot.png?x=snr&snr_min=40")
    assert plot.status_code == 200 and plot.data[:8] == b"\x89PNG\r\n\x1a\n"
    scatter = client.get(f"/results/{name}/plot.png?x=n_pixels&y=snr")
    assert scatter.status_code == 200 and scatter.mimetype == "image/png"
    assert client.get(f"/results/{name}/plot.png?x=obj").status_code == 400
    assert client.get(f"/results/{name}/plot.png?x=snr&snr_min=lots").status_code == 400

    download = client.get(f"/results/{name}/download?snr_min=40")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    path = web_config["sas"] + "-download.fits"
    with open(path, "wb") as fp:
        fp.write(download.data)
    with fits.open(path) as hdus:
        assert len(hdus[1].data) == high and min(hdus[1].data["SNR"]) >= 40
    assert client.get("/results/nosuchmodel").status_code == 404


def test_read_log_returns_whole_lines_and_resumes(tmp_path):
    from astra.web.logs import read_log

    path = tmp_path / "run.log"
    assert read_log(str(path)) == {"text": "", "offset": 0, "size": 0}
    path.write_text("one\ntwo\nthr")
    first = read_log(str(path), 0)
    assert first["text"] == "one\ntwo\n" and first["offset"] == 8
    with open(path, "a") as fp:
        fp.write("ee\n")
    assert read_log(str(path), first["offset"])["text"] == "three\n"
    path.write_text("".join(f"line {i}\n" for i in range(10000)))
    tail = read_log(str(path), -1, chunk=1000)
    assert tail["text"].startswith("line ") and tail["text"].endswith("line 9999\n") and tail["offset"] == tail["size"]


def test_astra_web_refuses_a_bad_port(capsys):
    assert main(["web", "--port", "0"]) == 2
    assert "--port" in capsys.readouterr().err


def test_a_task_method_is_started_over_a_catalogue_model(web_config, tmp_path):
    import astra.config
    from astra.contrib.rocket.results import RocketSNR
    from astra.web import launch
    from astra.web.app import create_app

    with open(web_config["config"], "w") as fp:
        fp.write("web_tasks: [snr]\n")  # the package's @task, by its registered name
    astra.config.reload()
    synthetic.write_sample_tree(web_config["sas"], 4, release="dr13", species="apStar", seed=2, n_visits=1)
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", web_config["sas"],
                 "--no-progress"]) == 0
    client = create_app().test_client()
    try:
        page = client.get("/start/snr").get_data(as_text=True)
        assert ">ApogeeCoaddedSpectrumInApStar</option>" in page and 'name="release"' not in page
        assert 'name="min_good_pixels" type="number" step="1"' in page
        csrf = _csrf(client, "/start/snr")
        response = client.post("/start/snr", data={"model": "ApogeeCoaddedSpectrumInApStar", "limit": "3",
                                                   "min_good_pixels": "50", "csrf_token": csrf})
        assert response.status_code == 302, response.get_data(as_text=True)
        run_id = int(response.headers["Location"].rsplit("/", 1)[1])
        run = _wait_for_run(client, run_id)
        assert (run["state"], run["total"], run["done"]) == ("done", 3, 3), run
        assert run["parameters"]["model"] == "ApogeeCoaddedSpectrumInApStar"
        assert "snr ApogeeCoaddedSpectrumInApStar --limit 3 " in run["command"]
        assert "--min-good-pixels=50" in run["command"] and "--use-pixel-mask=false" in run["command"]
        bad = client.post("/start/snr", data={"model": "Nope", "csrf_token": csrf})
        assert bad.status_code == 400 and "not &#39;Nope&#39;" in bad.get_data(as_text=True)
        # Its results model has a page too.
        table = RocketSNR._meta.table_name
        results = client.get(f"/results/{table}").get_data(as_text=True)
        assert results.count("<tr><td>") == 3
        assert client.get(f"/results/{table}/plot.png?x=snr").mimetype == "image/png"
    finally:
        launch.stop_all()


def test_a_bad_where_from_the_form_is_one_line_in_the_run_log(web_config, tmp_path):
    import astra.config
    from astra.web import launch
    from astra.web.app import create_app

    with open(web_config["config"], "w") as fp:
        fp.write("web_tasks: [snr]\n")
    astra.config.reload()
    synthetic.write_sample_tree(web_config["sas"], 2, release="dr13", species="apStar", seed=2, n_visits=1)
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", web_config["sas"],
                 "--no-progress"]) == 0
    client = create_app().test_client()
    try:
        csrf = _csrf(client, "/start/snr")
        response = client.post("/start/snr", data={"model": "ApogeeCoaddedSpectrumInApStar", "where": "snrr > 3",
                                                   "csrf_token": csrf})
        assert response.status_code == 302, response.get_data(as_text=True)
        run_id = int(response.headers["Location"].rsplit("/", 1)[1])
        run = _wait_for_run(client, run_id)
        assert run["exit_code"] == 2, run
        log = client.get(f"/api/runs/{run_id}/log?offset=0").get_json()["text"]
        assert "Traceback" not in log, log
        assert "--where 'snrr > 3': no column 'snrr' in ApogeeCoaddedSpectrumInApStar; its columns:" in log
    finally:
        launch.stop_all()


def test_pages_render_docstrings_and_show_science_columns_first(web_config, tmp_path):
    """Issue 22, item 11: reST shown as code, science columns before the bookkeeping, times
    as dates, a one-point scatter that can be seen, the release offered from the SAS tree, a
    'nothing to do' run with its user and start time."""
    import io

    import astra.config
    import matplotlib.image
    import numpy as np

    from astra.contrib.rocket.results import RocketSNR
    from astra.web import launch
    from astra.web.app import create_app

    with open(web_config["config"], "w") as fp:
        fp.write("web_tasks: [snr, web_tasks.WatchableSNR, astra.contrib.rocket.EstimateSNR]\n")
    astra.config.reload()
    synthetic.write_sample_tree(web_config["sas"], 1, release="dr13", species="apStar", seed=2, n_visits=1)
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", web_config["sas"],
                 "--no-progress"]) == 0
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar"]) == 0
    client = create_app().test_client()
    try:
        table = RocketSNR._meta.table_name
        page = client.get(f"/results/{table}").get_data(as_text=True)
        assert "``" not in page and "<code>astra.contrib.rocket.snr</code>" in page
        headers = re.findall(r"<th>(\w+)(?:</th>| <span)", page)
        assert headers[0] == "snr" and headers.index("spectrum_pk") < headers.index("task_pk")
        assert headers.index("snr") < headers.index("spectrum_mtime")
        row = re.search(r"<tr><td>.*?</tr>", page, re.S).group(0)
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[headers.index("spectrum_mtime")]), cells
        assert "e+09" not in row
        assert "``" not in client.get("/results").get_data(as_text=True)
        assert "``" not in client.get("/start").get_data(as_text=True)

        # one point: drawn large enough to see (pixels of the marker colour)
        png = client.get(f"/results/{table}/plot.png?x=snr&y=snr").data
        image = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
        marker = np.array([0x1F, 0x77, 0xB4]) / 255
        assert (np.abs(image - marker).max(axis=2) < 0.1).sum() > 20

        # the release offered is the one under SAS_BASE_DIR, not dr17
        form = client.get("/start/EstimateSNR").get_data(as_text=True)
        assert 'name="release" list="release-choices" value="dr13"' in form
        assert "value=\"dr17\"" not in form
        # the labels' text is one block (one flex item), not one line per part
        assert re.search(r'<label class="wide"><span>Filters \(one <code>key=value</code>', form)

        # a run that finds nothing to do still shows who started it, and when
        csrf = _csrf(client, "/start/snr")
        response = client.post("/start/snr", data={"model": "ApogeeCoaddedSpectrumInApStar", "csrf_token": csrf})
        run = _wait_for_run(client, int(response.headers["Location"].rsplit("/", 1)[1]))
        assert run["exit_code"] == 0 and run["user"] and run["started"], run
    finally:
        launch.stop_all()


def test_failure_paths_keep_a_readable_width():
    import os

    import astra.web

    css = open(os.path.join(os.path.dirname(astra.web.__file__), "static", "astra.css")).read()
    assert re.search(r"td\.path \{ min-width: \d+em; \}", css)
    assert "td.path code { word-break: normal; overflow-wrap: anywhere; }" in css


def test_a_script_starts_a_run_on_a_loopback_server_without_a_token(client, web_config):
    """docs/web.rst's curl line for a loopback server without a token: JSON, no CSRF token."""
    synthetic.write_sample_tree(web_config["sas"], 2, release="dr13", species="apStar", seed=3)
    response = client.post("/api/runs", json={"task": "WatchableSNR", "release": "dr13", "species": "apStar"})
    assert response.status_code == 201, response.get_data(as_text=True)
    run = _wait_for_run(client, response.get_json()["run"]["id"])
    assert run["state"] == "done", run
    assert "--use-pixel-mask=true" in run["command"]   # a flag left out keeps its default (true)
    import os

    from service_fixtures import PROJECT_DIR

    web_rst = open(os.path.join(PROJECT_DIR, "docs", "web.rst")).read()
    assert "curl -s -X POST -H 'Content-Type: application/json' \\\n        -d '{\"task\": \"EstimateSNR\"" in web_rst
