"""Shared fixtures: every test gets its own output directory and a clean configuration."""

import os

import pytest

import astra.config
from real_files import MISSING_REAL_SAS


def require_or_skip(reason):
    """Skip with ``reason``, or fail when ``ASTRA_REQUIRE_SERVICES=1`` (as in CI)."""
    if os.environ.get("ASTRA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def astra_environment(tmp_path, monkeypatch):
    """Point outputs and the user's config file into the test's temporary directory."""
    monkeypatch.setenv("ASTRA_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ASTRA_CONFIG", raising=False)
    monkeypatch.delenv("ASTRA_DATABASE_URL", raising=False)
    astra.config.reload()
    yield tmp_path
    astra.config.invalidate()


@pytest.fixture
def luigi_config(tmp_path):
    """Add a luigi.cfg with the given text to Luigi's configuration; removed afterwards.

    Use as ``luigi_config("[family]\nparam = value\n")``.
    """
    import configparser

    import luigi

    config = luigi.configuration.get_config()
    sections = []

    def add(text):
        path = tmp_path / f"luigi-{len(sections)}.cfg"
        path.write_text(text)
        parser = configparser.ConfigParser()
        parser.read_string(text)
        sections.extend(parser.sections())
        config.add_config_path(str(path))

    yield add
    for section in sections:
        config.remove_section(section)


@pytest.fixture
def real_sas():
    """The real SDSS files (``ASTRA_TEST_SAS``), or a skip saying how to provide them."""
    path = os.environ.get("ASTRA_TEST_SAS")
    if not path or not os.path.isdir(path):
        require_or_skip(MISSING_REAL_SAS)
    return os.path.abspath(path)


# Fixtures that start real services (luigid, Slurm, PostgreSQL databases).
from postgres_fixtures import *  # noqa: E402,F401,F403
from service_fixtures import *  # noqa: E402,F401,F403
