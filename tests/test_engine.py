"""The engine under both method styles: each cross-cutting behaviour tested once, for both.

``style`` is ``"class"`` (a ``BaseTask`` with ``setup()``/``process()``) or ``"task"`` (a ``@task``
generator over catalogue rows). Real processes, real signals, real SQLite and PostgreSQL.
"""

import collections
import os
import signal
import subprocess
import sys
import time

import luigi
import pytest

import astra
import astra.config
from astra.claims import ClaimRecord, DatabaseClaimStore, store_for
from astra.cli import main as astra_main
from astra.processes import ProcessIdentity, this_process
from astra.tools import synthetic
from service_fixtures import service_env, wait_until
from web_fixtures import web_config  # noqa: F401

STYLES = ["class", "task"]
MODEL = "ApogeeCoaddedSpectrumInApStar"


def _computed(path):
    if not os.path.exists(path):
        return collections.Counter()
    with open(path) as fp:
        return collections.Counter(line.split()[0] for line in fp if line.strip())


def _sample(root, n, seed=3, corrupt=0):
    return synthetic.write_sample_tree(str(root), n, release="dr13", species="apStar", seed=seed, n_visits=1,
                                       corrupt=corrupt)


def _catalogue(root):
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root), "--no-progress"])
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar

    return [r.spectrum_pk for r in ApogeeCoaddedSpectrumInApStar.select().order_by(ApogeeCoaddedSpectrumInApStar.spectrum_pk)]


def _run_argv(style, sas, extra=()):
    astra_bin = os.path.join(os.path.dirname(sys.executable), "astra")
    if style == "class":
        return [astra_bin, "run", "claim_tasks.LoggedSNRToDatabase", "--release", "dr13", "--species", "apStar",
                "--sas-base-dir", str(sas), *extra]
    return [astra_bin, "run", "engine_methods.logged_snr", MODEL, *extra]


def _batch(style, n=4):
    """A batch of ``n`` members of the style's method (the @task over a fresh catalogue)."""
    if style == "class":
        from engine_methods import LoggedRows

        return LoggedRows(obj=tuple(f"o{i}" for i in range(n)))
    from engine_methods import logged_snr

    keys = _catalogue_for_batch(n)
    return logged_snr.task_class(spectrum_model=MODEL, spectrum_pk=tuple(keys))


def _catalogue_for_batch(n):
    root = os.path.join(os.environ["ASTRA_OUTPUT_DIR"], "..", "sas")
    _sample(root, n)
    return _catalogue(root)


def _dead_process():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    me = this_process()
    return ProcessIdentity(me.host, me.boot, proc.pid, None)


# ------------------------------------------------------------------------------ claims


@pytest.mark.parametrize("style", STYLES)
def test_claims_of_database_results_are_database_rows(style, db_url):
    """Claims follow the results: a database for database results, for both styles, so they
    hold across hosts that share only the database."""
    assert isinstance(store_for(_batch(style)), DatabaseClaimStore)


@pytest.mark.parametrize("style", STYLES)
def test_taking_over_a_stale_claim_does_not_recompute_finished_work(style, db_url, tmp_path, monkeypatch):
    log = tmp_path / "computed.log"
    monkeypatch.setenv("ASTRA_CLAIM_LOG", str(log))
    batch = _batch(style)
    assert not batch.complete()  # Luigi asks at scheduling, before the run
    # Meanwhile another run (another task object) computes the whole batch, and dies before
    # releasing its claim.
    luigi.task_register.Register.clear_instance_cache()
    other = type(batch)(**batch.param_kwargs)
    assert other is not batch
    other.run()
    assert sum(_computed(log).values()) == 4
    store = store_for(batch)
    key = batch.claim_key() if hasattr(batch, "claim_key") else batch.identity_hash
    taken, _ = store.acquire(ClaimRecord(key, "dead-run", _dead_process(), time.time(), "a dead run"))
    assert taken
    batch.run()  # takes the stale claim over
    computed = _computed(log)
    assert sum(computed.values()) == 4, f"finished spectra computed again: {computed}"
    assert batch.batch_outcome.done == 0 and batch.batch_outcome.skipped == 4


def _wait_all(procs, timeout=600):
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            outputs.append((proc.returncode, out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return outputs


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("runs,hosts", [(2, 1), (3, 1), (2, 2)], ids=["K2", "K3", "two-hosts"])
def test_concurrent_runs_compute_each_spectrum_once(style, runs, hosts, postgres_url, tmp_path, monkeypatch):
    """K runs started a moment apart (so they find different pending spectra), on one host or
    on two "hosts" (separate output directories, one PostgreSQL database): at most 1% twice."""
    n = 120
    sas = tmp_path / "sas"
    _sample(sas, n)
    monkeypatch.setenv("ASTRA_DATABASE_URL", postgres_url)
    astra.config.reload()
    if style == "task":
        _catalogue(sas)
    log = tmp_path / "computed.log"
    procs = []
    try:
        for i in range(runs):
            output = tmp_path / (f"host{i % hosts}")
            env = service_env(ASTRA_CLAIM_LOG=str(log), ASTRA_CLAIM_SLEEP="0.02", ASTRA_OUTPUT_DIR=str(output),
                              ASTRA_DATABASE_URL=postgres_url)
            procs.append(subprocess.Popen(_run_argv(style, sas, ["--max-batch-size", "20"]), env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          start_new_session=True))
            if i + 1 < runs:  # the next starts once this one has computed something
                wait_until(lambda: sum(_computed(log).values()) >= 5 * (i + 1), 120, "a run computes spectra")
        results = _wait_all(procs)
    finally:
        _wait_all(procs, timeout=1)
    for code, out in results:
        assert code == 0, out
    computed = _computed(log)
    assert len(computed) == n
    twice = sum(c - 1 for c in computed.values())
    assert twice <= n // 100, f"{twice} of {n} spectra computed more than once: {results}"


@pytest.mark.parametrize("style", STYLES)
def test_one_run_with_several_workers_and_small_batches_does_all_itself(style, sqlite_url, tmp_path):
    """One run, two workers, batches of at most two (cut 2, 2, 2, 2, 1, 1): every spectrum is
    this run's own, none "done by another run". Luigi's scheduler used to merge the two batches
    of one spectrum into a batch of its own id, whose spectra the summary then found written
    during the run by no batch of it."""
    n = 10
    sas = tmp_path / "sas"
    _sample(sas, n)
    log = tmp_path / "computed.log"
    env = service_env(ASTRA_CLAIM_LOG=str(log), ASTRA_CLAIM_SLEEP="0", ASTRA_DATABASE_URL=sqlite_url,
                      ASTRA_OUTPUT_DIR=str(tmp_path / "out"))
    if style == "class":  # file outputs: the summary tells others' work by when it was written
        argv = [os.path.join(os.path.dirname(sys.executable), "astra"), "run", "claim_tasks.LoggedSNR",
                "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(sas)]
    else:
        subprocess.run(_run_argv(style, sas)[:1] + ["migrate", "--release", "dr13", "--species", "apStar",
                                                    "--sas-base-dir", str(sas), "--no-progress"],
                       env=env, check=True, capture_output=True)
        argv = _run_argv(style, sas)
    proc = subprocess.run(argv + ["--max-batch-size", "2", "--workers", "2"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "by another run" not in out, out
    assert f"{n} spectra done (0 already complete), 0 failed" in out, out
    computed = _computed(log)
    assert len(computed) == n and sum(computed.values()) == n, computed


# ------------------------------------------------------------------------------ kill and resume


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES)
def test_a_run_killed_every_few_seconds_keeps_what_it_computed(style, sqlite_url, tmp_path, monkeypatch):
    """Rows are written every few seconds (``database_flush_interval``), not only every
    1,000 rows or minute: each killed run leaves its work, and the runs finish."""
    n = 30
    sas = tmp_path / "sas"
    _sample(sas, n)
    monkeypatch.setenv("ASTRA_DATABASE_URL", sqlite_url)
    astra.config.reload()
    if style == "task":
        _catalogue(sas)
    log = tmp_path / "computed.log"
    env = service_env(ASTRA_CLAIM_LOG=str(log), ASTRA_CLAIM_SLEEP="0.25", ASTRA_DATABASE_URL=sqlite_url)
    for attempt in range(12):
        before = sum(_computed(log).values())
        proc = subprocess.Popen(_run_argv(style, sas, ["--max-batch-size", "100"]), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            # Killed about 4 s after it starts computing (its start-up is not counted: it
            # depends on the machine's load).
            deadline = time.monotonic() + 120
            while sum(_computed(log).values()) < before + 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            out, _ = proc.communicate(timeout=4)
            break  # finished before the kill
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    else:
        raise AssertionError(f"12 runs killed every few seconds never finished {n} spectra: "
                             f"{sum(_computed(log).values())} computations")
    assert proc.returncode == 0, out
    assert attempt >= 1, "the first run was never killed: the test proves nothing"
    assert sum(_computed(log).values()) < 2 * n, "killed runs kept next to nothing"


# ------------------------------------------------------------------------------ failures


@pytest.mark.parametrize("style", STYLES)
def test_a_rerun_with_failed_spectra_says_how_many_and_how_to_retry(style, sqlite_url, tmp_path, monkeypatch,
                                                                    capsys):
    sas = tmp_path / "sas"
    tree = _sample(sas, 4, corrupt=1)
    monkeypatch.setenv("ASTRA_DATABASE_URL", sqlite_url)
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    astra.config.reload()
    if style == "task":
        _catalogue(sas)
    argv = _run_argv(style, sas)[1:]
    assert astra_main(argv) == 1
    out = capsys.readouterr().out
    assert "1 failed" in out and "1 spectra failed" in out and "again retries them" in out, out
    if style == "task":  # the other policy, one option away: failures left alone, and said so
        assert astra_main(argv + ["--skip-failed"]) == 0
        out = capsys.readouterr().out
        assert "nothing to do" in out and "1 ApogeeCoaddedSpectrumInApStar spectra failed earlier" in out, out
        assert "--retry-failed" in out
    # The default policy, the same for both styles: a re-run retries the failed spectrum.
    assert astra_main(argv) == 1
    out = capsys.readouterr().out
    assert "1 failed" in out and "again retries them" in out, out
    synthetic.write_apstar(tree.paths[next(iter(tree.corrupt))], seed=21)  # the file is repaired
    if style == "task":
        _catalogue(sas)
    assert astra_main(argv) == 0
    assert "0 failed" in capsys.readouterr().out


@pytest.mark.parametrize("style", STYLES)
def test_file_outputs_retry_failed_spectra_too(style, tmp_path, monkeypatch, capsys):
    """The same policy with file outputs: a failure leaves no output, and a re-run retries it."""
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "files.yml"))
    (tmp_path / "files.yml").write_text(f"results_output: files\ndatabase_url: sqlite:///{tmp_path / 'c.db'}\n")
    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    astra.config.reload()
    sas = tmp_path / "sas"
    tree = _sample(sas, 4, corrupt=1)
    if style == "task":
        _catalogue(sas)
        argv = _run_argv(style, sas)[1:]
    else:
        argv = ["run", "claim_tasks.LoggedSNR", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(sas)]
    assert astra_main(argv) == 1
    assert "1 failed" in capsys.readouterr().out
    synthetic.write_apstar(tree.paths[next(iter(tree.corrupt))], seed=21)  # the file is repaired
    assert astra_main(argv) == 0
    out = capsys.readouterr().out
    assert "4 spectra done (3 already complete), 0 failed" in out, out


# ------------------------------------------------------------------------------ retries

FLAKY = {"class": ("engine_methods.FlakySNRToDatabase", "--release", "dr13", "--species", "apStar"),
         "task": ("engine_methods.flaky_snr", MODEL)}


def _flaky_run(style, sas, tmp_path, monkeypatch, times):
    """Run the flaky method over 4 spectra, the first file's read failing ``times`` times."""
    tree = _sample(sas, 4)
    chosen = os.path.basename(sorted(tree.paths)[0])
    monkeypatch.setenv("ASTRA_FLAKY", chosen)
    monkeypatch.setenv("ASTRA_FLAKY_TIMES", str(times))
    monkeypatch.setenv("ASTRA_FLAKY_LOG", str(tmp_path / "flaky.log"))
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    if style == "task":
        _catalogue(sas)
    extra = ("--sas-base-dir", str(sas)) if style == "class" else ()
    code = astra_main(["run", *FLAKY[style], *extra])
    return code, chosen, len((tmp_path / "flaky.log").read_text().splitlines())


@pytest.mark.parametrize("style", STYLES)
def test_a_transient_error_retries_that_spectrum_only(style, sqlite_url, tmp_path, monkeypatch, capsys):
    """A read that raises OSError twice on one spectrum, then succeeds: that spectrum is tried
    three times, the others once, nothing fails, and the summary counts the retried spectrum."""
    monkeypatch.setenv("ASTRA_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ASTRA_CLAIM_LOG", str(tmp_path / "computed.log"))
    astra.config.reload()
    code, chosen, tries = _flaky_run(style, tmp_path / "sas", tmp_path, monkeypatch, times=2)
    out = capsys.readouterr().out
    assert code == 0, out
    assert tries == 3
    assert "4 spectra done (0 already complete), 0 failed, 1 retried after a transient error" in out, out
    if style == "class":  # every member computed once: only the chosen one was tried again
        assert sum(_computed(tmp_path / "computed.log").values()) == 4


@pytest.mark.parametrize("style", STYLES)
def test_a_spectrum_failing_every_try_shows_its_attempts_on_failures(style, web_client, web_config, tmp_path,
                                                                     monkeypatch, capsys):
    from astra.models.run import RunFailure

    code, chosen, tries = _flaky_run(style, web_config["sas"], tmp_path, monkeypatch, times=10)
    out = capsys.readouterr().out
    assert code == 1 and tries == 3, out
    assert "1 failed, 1 retried after a transient error" in out, out
    (failure,) = RunFailure.select()
    assert failure.reason.startswith("OSError: stale file handle") and "(after 3 tries: OSError:" in failure.reason
    assert failure.reason.count("OSError") == 4  # the last error, then each try's
    page = web_client.get("/failures").get_data(as_text=True)
    assert "after 3 tries" in page and chosen in page


# ------------------------------------------------------------------------------ a class's own run()


def test_a_class_own_run_is_counted_and_recorded_by_the_engine(web_client, monkeypatch):
    """Seed 002's form (a class writing its own run()): the engine still owns the outcome, the
    failure records and /failures; a later successful run clears the records."""
    from astra.models.run import RunFailure

    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    from batch_tasks import RunRaises

    objs = ["2M00000001", "2M00000002", "2M00000003"]
    summary = astra.build([RunRaises(obj=o) for o in objs])
    assert (summary.done, summary.n_failed) == (0, 3), str(summary)
    batch = RunRaises(obj=tuple(objs))
    assert batch.recorded_failures() == {RunRaises(obj=o).identity_hash for o in objs}
    assert {f.task_id for f in RunFailure.select()} == {RunRaises(obj=o).task_id for o in objs}
    assert "local_path() names one spectrum" in web_client.get("/failures").get_data(as_text=True)
    summary = astra.build([RunRaises(obj=o) for o in objs], max_batch_size=1)  # one spectrum each: run() works
    assert (summary.done, summary.n_failed) == (3, 0), str(summary)
    assert batch.recorded_failures() == set()


# ------------------------------------------------------------------------------ astra web

WEB_TASKS = {"class": ("claim_tasks.LoggedSNRToDatabase", "LoggedSNRToDatabase"),
             "task": ("engine_methods.logged_snr", "logged_snr")}


@pytest.fixture
def web_client(web_config):
    pytest.importorskip("flask")
    from astra.web import launch
    from astra.web.app import create_app

    with open(web_config["config"], "w") as fp:
        fp.write(f"web_tasks: [{', '.join(dotted for dotted, _ in WEB_TASKS.values())}]\n"
                 "result_modules: [astra.database.examples]\n")
    astra.config.reload()
    client = create_app().test_client()
    yield client
    launch.stop_all()  # no run process outlives its test


def _csrf(client, path):
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match:
        return match.group(1)
    with client.session_transaction() as session:
        return session["csrf"]


@pytest.mark.parametrize("style", STYLES)
def test_the_start_pages_serve_both_styles(style, web_client):
    assert web_client.get("/start").status_code == 200
    page = web_client.get(f"/start/{WEB_TASKS[style][1]}")
    assert page.status_code == 200, page.get_data(as_text=True)[-2000:]


@pytest.mark.parametrize("style", STYLES)
def test_failures_are_recorded_shown_on_failures_and_retried(style, web_client, web_config):
    from astra.models.run import RunFailure

    sas = web_config["sas"]
    tree = _sample(sas, 4, corrupt=1)
    broken = tree.paths[next(iter(tree.corrupt))]
    if style == "task":
        _catalogue(sas)
    assert astra_main(_run_argv(style, sas)[1:]) == 1
    (failure,) = RunFailure.select()
    assert failure.task == WEB_TASKS[style][0] and failure.path == broken
    assert os.path.basename(broken) in web_client.get("/failures").get_data(as_text=True)
    synthetic.write_apstar(broken, seed=21)  # the file is repaired
    if style == "task":
        _catalogue(sas)
    response = web_client.post("/failures/retry", data={"failure": str(failure.id),
                                                        "csrf_token": _csrf(web_client, "/failures")})
    assert response.status_code == 302, response.get_data(as_text=True)
    retry_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    deadline = time.monotonic() + 180
    while True:
        run = web_client.get(f"/api/runs/{retry_id}").get_json()["run"]
        if run["state"] in ("done", "failed", "error", "stopped") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (run["state"], run["done"], run["failed"]) == ("done", 1, 0), run
    assert RunFailure.get_by_id(failure.id).retried_by_id == retry_id


def test_the_core_imports_neither_luigi_nor_peewee_nor_the_layers_above():
    """astra.core is the engine under both styles: it knows no Luigi, no database, no style."""
    import ast

    import astra.core

    directory = os.path.dirname(astra.core.__file__)
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(directory, name)).read())
        for node in ast.walk(tree):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                top = module.split(".")
                assert top[0] not in ("luigi", "peewee"), f"{name} imports {module}"
                assert top[:2] not in (["astra", "tasks"], ["astra", "database"], ["astra", "models"]), \
                    f"{name} imports {module}"
