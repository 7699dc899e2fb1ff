"""``astra web`` with the package's default ``web_tasks`` (a class and the ``snr`` @task method),
checked over real HTTP against a real server process: no browser needed."""

import urllib.error
import urllib.request

import pytest

from web_fixtures import start_web_server, web_config  # noqa: F401

pytest.importorskip("flask")


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_start_pages_answer_with_the_package_defaults(web_config, tmp_path):
    with open(web_config["config"], "w") as fp:
        fp.write("# the package's defaults: no web_tasks of our own\n")
    server = start_web_server(tmp_path)
    try:
        status, page = _get(server.url + "start")
        assert status == 200, page[-3000:] + server.log()[-3000:]
        assert "(a @task method over ApogeeCoaddedSpectrumInApStar" in page
        assert 'href="/start/snr"' in page and 'href="/start/EstimateSNR"' in page
        for name in ("snr", "EstimateSNR"):
            status, page = _get(server.url + "start/" + name)
            assert status == 200, (name, page[-3000:])
            assert 'id="start-form"' in page
    finally:
        server.stop()
