"""astra.datamodels.registry: loaders, file tasks and synthetic writers registered by data-model name."""

import subprocess
import sys

import pytest

from astra import datamodels
from astra.datamodels import registry


def test_the_data_models_find_what_the_packages_above_registered():
    from astra.tasks.io import ApStarFile, SpecLiteFile
    from astra.tools.spectrum import load_apstar, load_boss_spec, read_arrays
    from astra.tools.synthetic.registered import _write_sdss5_spec

    assert datamodels.get("apStar").file_task is ApStarFile
    assert datamodels.get("specLite").file_task is SpecLiteFile
    assert datamodels.get("apStar").loader is load_apstar
    assert datamodels.get("specLite").loader is load_boss_spec  # the loader of its layout (spec)
    assert datamodels.get("specFull").synthetic_writer is _write_sdss5_spec
    assert registry.lookup("read_arrays", "apVisit") is read_arrays
    assert set(registry.registered("file_task")) == set(datamodels.DATA_MODELS)
    assert set(registry.registered("synthetic_writer")) == set(datamodels.DATA_MODELS)


def test_a_registration_for_a_name_and_the_error_for_nothing_registered():
    marker = object()
    registry.provide("test_role", "apStar", marker)
    assert registry.lookup("test_role", "apStar") is marker
    assert registry.lookup("test_role", "apVisit", None) is None
    with pytest.raises(registry.NotRegisteredError, match="no test_role is registered for data model 'apVisit'"):
        registry.lookup("test_role", "apVisit")
    with pytest.raises(LookupError, match=r"importing astra\.tasks\.io registers"):
        registry.lookup("file_task", "noSuchModel")

    @registry.register("test_role", "apVisit", "spec")
    def provider():
        pass

    assert registry.lookup("test_role", "spec") is provider
    assert registry.lookup("test_role", "apStar") is marker


def test_the_data_models_import_nothing_above_them():
    """Asking a data model its keys (sdss-access included) loads no task, reader or catalogue module."""
    code = (
        "import sys, astra.datamodels as d\n"
        "assert d.get('apStar').keys('DR13') == d.get('apStar').keys('dr13')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('astra.tasks', 'astra.tools', 'astra.models', 'astra.database')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_old_module_paths_are_the_moved_modules():
    import astra.datamodels.find
    import astra.datamodels.paths
    import astra.datamodels.special
    import astra.tasks.io.find
    import astra.tasks.io.paths
    import astra.tasks.io.special
    from astra.tasks.io import paths

    assert astra.tasks.io.paths is astra.datamodels.paths is paths
    assert astra.tasks.io.find is astra.datamodels.find
    assert astra.tasks.io.special is astra.datamodels.special
    from astra.runner import read_keys_table

    assert read_keys_table is astra.datamodels.find.read_keys_table
