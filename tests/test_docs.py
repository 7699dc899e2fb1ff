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
    """docs/daily.rst's one-task DAG, the shipped DAG it includes (run under a real Airflow by
    tests/test_airflow_dag.py) and the cron line call commands astra has."""
    from astra.cli import build_parser

    text = open(os.path.join(PROJECT_DIR, "docs", "daily.rst")).read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert len(blocks) == 1
    assert ".. literalinclude:: ../python/astra/etc/astra_daily_dag.py" in text
    dag = open(os.path.join(PROJECT_DIR, "python", "astra", "etc", "astra_daily_dag.py")).read()
    sources = ["\n".join(line[4:] for line in blocks[0].splitlines()), dag]
    commands = []
    for source in sources:
        compile(source, "daily.rst", "exec")                   # Airflow itself is not installed here
        commands += re.findall(r'bash_command=f?"(astra [^"]+)"', source)
    commands.append(re.search(r"venv/bin/(astra daily [^>]+)>>", text).group(1))
    params = {"release": "dr13", "species": "apStar", "srun_options": "--elements 2 --max-running 2 --time 01:00:00"}
    assert all(f"\"{k}\": \"{v}\"" in dag for k, v in params.items())
    commands.append("astra srun snr ApogeeCoaddedSpectrumInApStar " + params["srun_options"])  # the DAG's RUNNER
    assert len(commands) == 7
    parser = build_parser()
    for command in commands:
        for name, value in params.items():
            command = command.replace("{{ params.%s }}" % name, value)
        command = command.replace("{{ ds }}", "2026-12-01").replace("{product}", "astraAllStarRocketSNR")
        args, extra = parser.parse_known_args(command.split()[1:])
        assert args.command in ("daily", "init", "migrate", "run", "srun", "create"), command
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
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])))
    assert str(out.returncode) == shown.strip().splitlines()[-1] == "30"


def _code_block_after(path, marker):
    """The first ``.. code-block:: python`` after ``marker``, dedented."""
    text = open(os.path.join(PROJECT_DIR, path)).read()
    after = text[text.index(marker):]
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", after).group(1)
    return "\n".join(line[4:] for line in block.splitlines()) + "\n"


def test_writing_tasks_greet_runs_once_as_a_script_and_not_on_luigi_import(tmp_path):
    """The module-level astra.build must not run on every `luigi --module mymodule` import."""
    (tmp_path / "mymodule.py").write_text(_code_block_after("docs/writing-tasks.rst", "A first class-style task"))
    env = dict(os.environ, ASTRA_OUTPUT_DIR=str(tmp_path / "out"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    script = subprocess.run([sys.executable, "mymodule.py"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert script.returncode == 0 and "2 spectra done (0 already complete)" in script.stdout, script.stderr
    luigi = subprocess.run([sys.executable, "-m", "luigi", "--module", "mymodule", "tutorial.Greet", "--obj",
                            "2M00000000+0000000", "--local-scheduler"], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    assert luigi.returncode == 0, luigi.stderr
    assert "spectra done" not in luigi.stdout + luigi.stderr   # the script part did not run on import
    assert "1 ran successfully" in luigi.stderr


def test_web_rst_registers_only_tasks_that_exist(tmp_path, monkeypatch):
    import astra.config
    from astra.web.launch import registered_tasks

    example = _literal_block_after("docs/web.rst", "a form names\na task by its class name")
    listed = [line.split("#")[0].strip()[2:].strip() for line in example.splitlines() if line.strip().startswith("- ")]
    ours = [name for name in listed if not name.startswith("mymethods.")]
    assert len(ours) == 2, listed
    config = tmp_path / "astra.yml"
    config.write_text("web_tasks: [" + ", ".join(ours) + "]\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(config))
    astra.config.reload()
    assert len(registered_tasks()) == len(ours)   # each loads (a missing one is left out with a warning)


def test_gitignore_ignores_the_venv_readme_makes():
    ignored = open(os.path.join(PROJECT_DIR, ".gitignore")).read().split()
    readme = open(os.path.join(PROJECT_DIR, "README.md")).read()
    assert "python3 -m venv venv" in readme and "venv/" in ignored
