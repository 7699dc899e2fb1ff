"""Configuration layering: package < user file < $ASTRA_CONFIG < environment."""

import pytest
import yaml

import astra.config


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))
    return path


def test_package_defaults_apply(monkeypatch):
    monkeypatch.delenv("ASTRA_OUTPUT_DIR")
    astra.config.reload()
    assert astra.config.get("max_batch_size") == 1000
    assert astra.config.origin("max_batch_size").startswith("package")


def test_layers_in_order(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTRA_OUTPUT_DIR")
    _write(tmp_path / "home" / ".astra" / "astra.yml", {"max_batch_size": 10, "output_dir": "/user/out"})
    extra = _write(tmp_path / "extra.yml", {"max_batch_size": 20})
    monkeypatch.setenv("ASTRA_CONFIG", str(extra))
    astra.config.reload()
    assert astra.config.get("max_batch_size") == 20
    assert astra.config.origin("max_batch_size").startswith("$ASTRA_CONFIG")
    assert astra.config.get("output_dir") == "/user/out"
    assert astra.config.origin("output_dir").startswith("user")

    monkeypatch.setenv("ASTRA_OUTPUT_DIR", str(tmp_path / "env-out"))
    monkeypatch.setenv("ASTRA_MAX_BATCH_SIZE", "30")
    astra.config.reload()
    assert astra.config.get("output_dir") == str(tmp_path / "env-out")
    assert astra.config.get("max_batch_size") == 30
    assert astra.config.origin("output_dir") == "environment ($ASTRA_OUTPUT_DIR)"


def test_output_dir_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTRA_OUTPUT_DIR", "~/results")
    astra.config.reload()
    assert astra.config.get("output_dir") == str(tmp_path / "home" / "results")


def test_missing_astra_config_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "nope.yml"))
    with pytest.raises(astra.config.ConfigurationError, match="nope.yml"):
        astra.config.reload()


def test_bad_yaml_names_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yml"
    bad.write_text("output_dir: [unclosed\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(bad))
    with pytest.raises(astra.config.ConfigurationError, match="bad.yml"):
        astra.config.reload()


def test_luigi_config_still_gives_parameter_defaults(luigi_config):
    import luigi

    from astra.tasks import BaseTask

    class ConfiguredTask(BaseTask):
        task_namespace = "configtest"
        order = luigi.IntParameter()

    luigi_config("[configtest.ConfiguredTask]\norder = 7\n")
    assert ConfiguredTask().order == 7
