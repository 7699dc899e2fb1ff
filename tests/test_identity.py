"""Task identity: deterministic, normalised, version-aware."""

import os
import subprocess
import sys
import textwrap

import astra
from astra.tasks import BaseTask
from astra.tasks.identity import HASH_LENGTH


class IdentityTask(BaseTask):
    task_namespace = "identitytest"
    teff = astra.FloatParameter(default=5000.0)
    options = astra.DictParameter(default={})
    label = astra.Parameter(default="x")
    verbose = astra.BoolParameter(default=False, significant=False)


def test_int_and_float_are_the_same_task():
    assert IdentityTask(teff=5000).task_id == IdentityTask(teff=5000.0).task_id


def test_dict_order_does_not_matter():
    a = IdentityTask(options={"a": 1, "b": [1, 2]})
    b = IdentityTask(options={"b": [1, 2], "a": 1})
    assert a.task_id == b.task_id


def test_insignificant_parameters_do_not_change_identity():
    assert IdentityTask(verbose=True).task_id == IdentityTask(verbose=False).task_id


def test_significant_parameters_change_identity():
    assert IdentityTask(label="x").task_id != IdentityTask(label="y").task_id


def test_version_is_part_of_identity():
    current = IdentityTask()
    bumped = IdentityTask(astra_version_minor=current.astra_version_minor + 1)
    assert current.task_id != bumped.task_id
    assert current.local_path("a") != bumped.local_path("a")


def test_micro_version_is_not_significant():
    names = [n for n, _ in IdentityTask.get_params()]
    assert "astra_version_major" in names and "astra_version_minor" in names
    assert not any("micro" in n for n in names)


def test_id_is_short_and_readable():
    task = IdentityTask(label="spectrum-one")
    assert task.task_id.startswith("identitytest.IdentityTask_")
    assert task.task_id.endswith(task.identity_hash)
    assert len(task.identity_hash) == HASH_LENGTH
    assert len(task.task_id) < 100


def test_same_id_in_processes_with_different_hash_seeds(tmp_path):
    script = textwrap.dedent(
        """
        import astra
        from astra.tasks import BaseTask
        class IdentityTask(BaseTask):
            task_namespace = "identitytest"
            teff = astra.FloatParameter(default=5000.0)
            options = astra.DictParameter(default={})
            label = astra.Parameter(default="x")
        print(IdentityTask(teff=4000, options={"z": 1, "a": {"q": [1, 2]}}, label="s").task_id)
        """
    )
    ids = set()
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        ids.add(out.stdout.strip())
    here = IdentityTask(teff=4000.0, options={"a": {"q": [1, 2]}, "z": 1}, label="s").task_id
    assert ids == {here}


def test_repr_is_readable_for_long_values():
    task = IdentityTask(label="x" * 500)
    text = repr(task)
    assert text.startswith("identitytest.IdentityTask(") and len(text) < 200
