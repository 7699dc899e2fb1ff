"""setup.cfg: what gets installed, the pins, and pytest's warning filters."""

import os
import subprocess
import sys

from packaging.requirements import Requirement
from setuptools.config.setupcfg import read_configuration

from service_fixtures import PROJECT_DIR

SETUP_CFG = os.path.join(PROJECT_DIR, "setup.cfg")


def _options():
    return read_configuration(SETUP_CFG)["options"]


def test_every_directory_of_the_package_is_a_listed_package():
    # setuptools warns "Package 'astra.etc' is absent from the packages configuration" for any
    # importable directory (data directories included) that find: leaves out.
    packages = set(_options()["packages"])
    root = os.path.join(PROJECT_DIR, "python")
    for directory, subdirs, files in os.walk(os.path.join(root, "astra")):
        subdirs[:] = [d for d in subdirs if d != "__pycache__" and not d.endswith(".egg-info")]
        if files:
            name = os.path.relpath(directory, root).replace(os.sep, ".")
            assert name in packages, f"{name} is not in setup.cfg's packages"
    assert {"astra.etc", "astra.web.templates", "astra.web.static"} <= set(_options()["package_data"])


def test_the_main_job_needs_nothing_beyond_pip_install():
    requirements = {Requirement(text).name: Requirement(text) for text in _options()["install_requires"]}
    assert "matplotlib" in requirements   # astra demo draws its histogram


def test_luigi_is_bounded_below_its_next_major():
    import luigi

    (luigi_requirement,) = [Requirement(t) for t in _options()["install_requires"] if Requirement(t).name == "luigi"]
    major = int(luigi.__version__.split(".")[0])
    assert luigi_requirement.specifier.contains(luigi.__version__)
    assert not luigi_requirement.specifier.contains(f"{major + 1}.0.0")


def test_luigis_autoload_warning_is_filtered_by_setup_cfg(tmp_path):
    (tmp_path / "test_imports_luigi.py").write_text("import luigi\n\n\ndef test_nothing():\n    assert luigi\n")

    def pytest_output(*options):
        argv = [sys.executable, "-m", "pytest", "-c", SETUP_CFG, "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
                *options, str(tmp_path / "test_imports_luigi.py")]
        return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300).stdout

    assert "Autoloading range tasks" in pytest_output("-o", "filterwarnings=")   # the warning is there ...
    out = pytest_output()
    assert "1 passed" in out and "Autoloading range tasks" not in out and "warnings summary" not in out
