"""Examples in docs/ do what the docs say."""

import os
import re
import subprocess
import sys

import yaml

from service_fixtures import PROJECT_DIR


def _literal_block_after(path, marker):
    """The first ``::`` literal block after the line containing ``marker``, dedented."""
    text = open(os.path.join(PROJECT_DIR, path)).read()
    after = text[text.index(marker):]
    block = re.search(r"::\n\n((?:    .*\n|\n)+)", after).group(1)
    return "\n".join(line[4:] for line in block.splitlines()) + "\n"


def test_configuration_luigi_cfg_example_takes_effect(tmp_path):
    example = _literal_block_after("docs/configuration.rst", "Luigi's own files")
    assert "[EstimateSNR]" in example
    cfg = tmp_path / "luigi.cfg"
    cfg.write_text(example)
    check = ("from astra.contrib.rocket import EstimateSNR; import luigi.configuration as c;"
             "print(EstimateSNR(release='dr13').min_good_pixels, c.get_config().get('core', 'scheduler_host'))")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, LUIGI_CONFIG_PATH=str(cfg)), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    value = int(re.search(r"min_good_pixels = (\d+)", example).group(1))
    assert out.stdout.split() == [str(value), "scheduler.example.org"]
    from astra.contrib.rocket import EstimateSNR

    assert EstimateSNR(release="dr13").min_good_pixels != value   # the default differs: the file did it


def test_every_documented_setting_is_in_the_shipped_astra_yml():
    shipped = yaml.safe_load(open(os.path.join(PROJECT_DIR, "python", "astra", "etc", "astra.yml")))
    table = open(os.path.join(PROJECT_DIR, "docs", "configuration.rst")).read().split("In Python::")[0]
    documented = set(re.findall(r"   \* - ``(\w+)``", table))
    assert {"scheduler_host", "scheduler_port"} <= documented
    assert documented <= set(shipped)


def test_daily_airflow_dags_and_cron_line_call_real_astra_commands():
    from astra.cli import build_parser

    text = open(os.path.join(PROJECT_DIR, "docs", "daily.rst")).read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert len(blocks) == 2
    commands = []
    for block in blocks:
        source = "\n".join(line[4:] for line in block.splitlines())
        compile(source, "daily.rst", "exec")                   # Airflow itself is not installed
        commands += re.findall(r'bash_command="(astra [^"]+)"', source)
    commands.append(re.search(r"venv/bin/(astra daily [^>]+)>>", text).group(1))
    assert len(commands) == 5
    parser = build_parser()
    for command in commands:
        args, extra = parser.parse_known_args(command.replace("{{ ds }}", "2026-12-01").split()[1:])
        assert args.command in ("daily", "migrate", "run", "create"), command
        assert not extra or getattr(args._module, "ACCEPTS_EXTRA", False), command


def test_readme_and_luigi_rst_state_the_exit_codes_luigi_really_gives(tmp_path):
    readme = open(os.path.join(PROJECT_DIR, "README.md")).read()
    luigi_rst = open(os.path.join(PROJECT_DIR, "docs", "luigi.rst")).read()
    flat = " ".join(readme.split())
    assert "exits 0 even when tasks fail" not in flat
    assert "exits 30 when a task failed" in flat
    assert "Why ``luigi`` exits 0 when tasks fail" not in luigi_rst
    shown = _literal_block_after("docs/luigi.rst", "exits non-zero when something went wrong")
    assert "luigi --module failmod Boom --local-scheduler; echo $?" in shown
    (tmp_path / "failmod.py").write_text("import astra, luigi\n\n\nclass Boom(luigi.Task):\n"
                                         "    def run(self):\n        raise RuntimeError('boom')\n\n"
                                         "    def output(self):\n        return luigi.LocalTarget('boom.txt')\n")
    out = subprocess.run([sys.executable, "-m", "luigi", "--module", "failmod", "Boom", "--local-scheduler"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])))
    assert str(out.returncode) == shown.strip().splitlines()[-1] == "30"
