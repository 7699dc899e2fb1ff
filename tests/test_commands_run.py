"""``astra run`` on the command line: bad input is one clear line naming what is wrong."""

import os
import subprocess
import sys

import pytest

from astra.cli import main

EstimateSNR = "astra.contrib.rocket.EstimateSNR"


def _astra(*args, env=None):
    return subprocess.run([sys.executable, "-m", "astra.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_malformed_json_list_names_the_key(capsys):
    assert main(["run", EstimateSNR, "--release", "dr13", "--field", "[120-45, 009+09]"]) == 2
    err = capsys.readouterr().err
    assert "key 'field': '[120-45, 009+09]' is not a valid JSON list" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--workers", "--limit", "--max-batch-size"])
def test_zero_counts_are_refused(option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", EstimateSNR, "--release", "dr13", option, "0"])
    assert exit_.value.code == 2
    assert f"argument {option}: must be at least 1, got 0" in capsys.readouterr().err


def test_mistyped_names_get_suggestions(capsys):
    cases = [
        (["run", "astra.contrib.rocket.EstimateSRN"], "has no task 'EstimateSRN' (did you mean 'EstimateSNR'?)"),
        (["run", "astra.contrib.rockt.EstimateSNR"], "(did you mean 'rocket'?)"),
        (["run", "no_such_module_here.Greet"], "PYTHONPATH=."),
        (["run", EstimateSNR, "--min-good-pixel", "5"], "no parameter 'min_good_pixel' (did you mean 'min_good_pixels'?)"),
        (["run", EstimateSNR, "--species", "apStr"], "has no apStr template (did you mean 'apStar'?)"),
    ]
    for argv, expected in cases:
        assert main([*argv, "--release", "dr13"]) == 2, argv
        assert expected in capsys.readouterr().err


def test_species_in_another_case_is_the_data_model(tmp_path, capsys):
    assert main(["run", EstimateSNR, "--release", "dr13", "--species", "apstar",
                 "--sas-base-dir", str(tmp_path)]) == 1
    assert "no spectra found (apStar files of dr13" in capsys.readouterr().err


def test_sas_root_that_does_not_exist_is_not_created(tmp_path):
    missing = tmp_path / "no-such-sas"
    out = _astra("run", EstimateSNR, "--release", "dr13", env=dict(os.environ, SAS_BASE_DIR=str(missing)))
    assert out.returncode == 1
    assert f"under {missing}, which does not exist" in out.stderr
    assert not missing.exists()


def test_sas_root_that_is_a_file_is_a_clear_error(tmp_path):
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    out = _astra("run", EstimateSNR, "--release", "dr13", env=dict(os.environ, SAS_BASE_DIR=str(a_file)))
    assert out.returncode == 1
    # (specutils imports matplotlib, which may first say that it builds its font cache)
    assert out.stderr.strip().splitlines()[-1] == f"no spectra found (apStar files of dr13 under {a_file}, which is not a directory)"


def test_run_says_where_the_results_are(tmp_path, capsys):
    from astra.tools import synthetic

    sas = str(tmp_path / "sas")
    synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=3)
    assert main(["run", EstimateSNR, "--release", "dr13", "--sas-base-dir", sas]) == 0
    out = capsys.readouterr().out
    assert f"results: {tmp_path / 'output' / 'EstimateSNR'}" in out
    assert "astra find" in out


def test_an_output_directory_that_cannot_be_written_is_one_line_up_front(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = dict(os.environ, ASTRA_OUTPUT_DIR=str(blocker / "out"), SAS_BASE_DIR=str(tmp_path / "sas"))
    from astra.tools import synthetic

    synthetic.write_sample_tree(str(tmp_path / "sas"), 2, release="dr13", species="apStar", seed=1)
    out = _astra("run", EstimateSNR, "--release", "dr13", env=env)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert f"the output directory {blocker / 'out'}/EstimateSNR/ cannot be written (Not a directory)" in out.stderr
    assert "ASTRA_OUTPUT_DIR" in out.stderr and "Traceback" not in out.stderr


def test_help_examples_name_registered_tasks():
    import re

    from astra.commands.run import EPILOG
    from astra.tasks.function_runner import registered_tasks

    names = re.findall(r"astra run (\S+) [A-Z]\w+", EPILOG)
    assert names and all(name in registered_tasks() or "." in name for name in names), names


def test_a_module_in_the_current_directory_gets_the_pythonpath_hint(tmp_path):
    (tmp_path / "mymethods.py").write_text("x = 1\n")
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and os.path.abspath(p) != str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
                          "from astra.cli import main; sys.exit(main(sys.argv[1:]))",
                          "run", "mymethods.mean_snr", "ApogeeCoaddedSpectrumInApStar"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "cannot import module 'mymethods'" in out.stderr
    assert "mymethods.py is in the current directory, which the astra and luigi commands do not put on " \
           "Python's path: run with PYTHONPATH=. in front" in out.stderr


def _closed_port():
    import socket

    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("how", ["options", "settings"])
def test_unreachable_luigid_is_one_line_and_exit_status_1(tmp_path, how):
    from astra.tools import synthetic

    sas = str(tmp_path / "sas")
    synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=3)
    port = _closed_port()
    env = dict(os.environ, SAS_BASE_DIR=sas)
    args = ["run", EstimateSNR, "--release", "dr13"]
    if how == "options":
        args += ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(port)]
    else:
        config = tmp_path / "astra.yml"
        config.write_text(f"scheduler_host: 127.0.0.1\nscheduler_port: {port}\n")
        env["ASTRA_CONFIG"] = str(config)
    out = _astra(*args, env=env)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "RPCError" not in out.stderr, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"astra run: error: cannot reach luigid at http://127.0.0.1:{port}: "), out.stderr
    assert "--scheduler-host" in last
    assert not list((tmp_path / "output").rglob("*.json"))


@pytest.mark.luigid
def test_scheduler_options_run_under_that_luigid(luigid, tmp_path):
    from astra.tools import synthetic

    sas = str(tmp_path / "sas")
    synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=3)
    env = dict(luigid.env, SAS_BASE_DIR=sas, ASTRA_OUTPUT_DIR=str(tmp_path / "output"))
    out = _astra("run", EstimateSNR, "--release", "dr13", "--scheduler-host", luigid.host,
                 "--scheduler-port", str(luigid.port), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 spectra done (0 already complete), 0 failed" in out.stdout
    statuses = luigid.task_statuses()
    assert len(statuses) == 1 and set(statuses.values()) == {"DONE"}, statuses


@pytest.mark.luigid
def test_luigid_lost_mid_run_is_one_line_and_nothing_written_is_lost(luigid, tmp_path):
    from service_fixtures import LUIGI_TEST_CONFIG, finish_processes, wait_until

    config = tmp_path / "impatient-luigi.cfg"  # the run gives luigid up after 2 tries, 1 s apart
    config.write_text(LUIGI_TEST_CONFIG.replace("rpc-retry-attempts = 60", "rpc-retry-attempts = 2"))
    table = tmp_path / "keys.csv"
    table.write_text("obj\nA\nB\nC\nD\n")
    env = dict(luigid.env, LUIGI_CONFIG_PATH=str(config), ASTRA_OUTPUT_DIR=str(tmp_path / "output"))
    argv = [sys.executable, "-m", "astra.cli", "run", "batch_tasks.FlakyBatch", "--release", "dr17", "--keys-table",
            str(table), "--sleep", "1", "--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port)]
    with open(tmp_path / "run.log", "w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "RUNNING" in luigid.task_statuses().values(), 120, "the batch runs", interval=0.1)
        luigid.stop()
        assert finish_processes([proc], timeout=300) == [1]
    finally:
        finish_processes([proc])
    out = (tmp_path / "run.log").read_text()
    assert "Traceback" not in out and "RPCError" not in out, out
    assert out.strip().splitlines()[-1].startswith(f"astra run: error: cannot reach luigid at {luigid.url.rstrip('/')}"), out
    assert len(list((tmp_path / "output").rglob("*-flaky.json"))) == 4, out  # the batch under way finished
