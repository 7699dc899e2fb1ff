"""A real ``astra web`` server on a free loopback port, for the web and browser tests."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from astra.cluster.luigid import free_port
from service_fixtures import TESTS_DIR

__all__ = ["WebServer", "start_web_server", "web_config", "web_server"]


class WebServer:
    """A running ``astra web`` subprocess.

    :param url: its base URL, ending in ``/``.
    :param process: the :class:`subprocess.Popen`.
    :param env: the environment it (and the runs it starts) has.
    """

    def __init__(self, url, process, env, log_path):
        self.url = url
        self.process = process
        self.env = env
        self.log_path = log_path

    def log(self):
        """What the server printed so far."""
        with open(self.log_path, errors="replace") as fp:
            return fp.read()

    def stop(self):
        """Stop the server and every process it started (its process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def web_config(tmp_path, monkeypatch):
    """An astra.yml registering the test tasks, a SQLite database and a SAS root, all in
    ``tmp_path``; set for this process too. Returns a dict of the paths."""
    import astra.config

    sas = tmp_path / "sas"
    database = tmp_path / "results.db"
    config = tmp_path / "astra.yml"
    config.write_text("web_tasks: [web_tasks.WatchableSNR, astra.contrib.rocket.EstimateSNR]\n"
                      "result_modules: [astra.database.examples]\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(config))
    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    monkeypatch.syspath_prepend(TESTS_DIR)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (TESTS_DIR, os.environ.get("PYTHONPATH")) if p))
    astra.config.reload()
    return {"sas": str(sas), "database": f"sqlite:///{database}", "config": str(config)}


@pytest.fixture
def web_server(tmp_path, web_config):
    """``astra web`` serving ``web_config``'s database on a free port; stopped after."""
    server = start_web_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def start_web_server(tmp_path):
    """Start ``astra web`` on a free loopback port with this process's environment (and the
    tests directory on ``PYTHONPATH``); return a :class:`WebServer` once it answers.

    :param tmp_path: where its log goes.
    """
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p)
    log_path = str(tmp_path / "astra-web.log")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "astra.cli", "web", "--port", str(port)], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = WebServer(f"http://127.0.0.1:{port}/", process, env, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(server.url + "api/runs", timeout=2).read()
                return server
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"astra web did not start:\n{server.log()}", pytrace=False)
                time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
