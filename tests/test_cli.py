"""The astra command: version, config, clear errors."""

import json
import subprocess
import sys

import astra
from astra.cli import main


def _astra(*args):
    return subprocess.run([sys.executable, "-m", "astra.cli", *args], capture_output=True, text=True)


def test_version():
    out = _astra("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"astra {astra.__version__}"


def test_config_shows_values_and_origins(capsys, tmp_path):
    assert main(["config", "--json"]) == 0
    settings = json.loads(capsys.readouterr().out)
    assert settings["output_dir"]["value"] == str(tmp_path / "output")
    assert settings["output_dir"]["from"] == "environment ($ASTRA_OUTPUT_DIR)"
    assert settings["max_batch_size"]["from"].startswith("package")


def test_bad_argument_is_one_line_and_status_2():
    out = _astra("config", "--no-such-flag")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "--no-such-flag" in out.stderr


def test_unknown_command():
    out = _astra("frobnicate")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_unknown_setting_is_one_line(capsys):
    assert main(["config", "nonexistent_key"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nonexistent_key" in err
