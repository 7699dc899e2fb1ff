"""Tests of astra.cluster.spectrum_jobs: the job scripts of ``astra srun <task> <SpectrumModel>``."""

import shlex
import subprocess

from astra.cli import build_parser
from astra.cluster.spectrum_jobs import job_command, job_layout, plan_jobs
from astra.cluster.shares import range_for_process


def test_job_layout_keeps_a_full_job_and_shrinks_a_short_one():
    assert job_layout(8, 2, 4) == (2, 4)
    assert job_layout(3, 1, 4) == (1, 3)
    assert job_layout(3, 2, 2) == (2, 2)
    assert job_layout(1, 4, 8) == (1, 1)


def _srun_argv(script):
    line = next(line for line in script.splitlines() if line.startswith("srun "))
    argv = shlex.split(line)
    return argv[:argv.index("run") - 1], argv[argv.index("run"):]


def test_plan_jobs_gives_each_process_its_range(tmp_path):
    keys = [3, 10, 11, 12, 40]
    shares, jobs = plan_jobs(keys, "task_methods.median_snr", "ApogeeCoaddedSpectrumInApStar",
                             ["--workers", "1", "--where", "snr > 'a b'", "--min-snr", "5"],
                             jobs=2, nodes=1, procs=4, output_dir=str(tmp_path), time="00:05:00")
    assert len(shares) == 8 and [s.count for s in shares] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert [(j.index, j.nodes, j.procs, j.count) for j in jobs] == [(0, 1, 4, 4), (1, 1, 1, 1)]
    srun, argv = _srun_argv(jobs[0].script)
    assert "--ntasks-per-node=4" in srun and "#SBATCH --ntasks-per-node=4" in jobs[0].script
    subprocess.run(["bash", "-n"], input=jobs[0].script, text=True, check=True)
    args, extra = build_parser().parse_known_args(argv)
    assert (args.task, args.model, args.where, args.range_per_process) == (
        "task_methods.median_snr", "ApogeeCoaddedSpectrumInApStar", "snr > 'a b'", True)
    assert extra == ["--min-snr", "5"]
    assert [tuple(r) for r in args.spectrum_pk_range] == [(3, 3), (10, 10), (11, 11), (12, 12)]
    assert range_for_process(args.spectrum_pk_range, {"SLURM_PROCID": "2"}) == (11, 11)
    _, argv = _srun_argv(jobs[1].script)
    assert argv[-4:] == ["--spectrum-pk-range", "40", "40", "--range-per-process"]


def test_plan_jobs_without_spectra_plans_no_job(tmp_path):
    shares, jobs = plan_jobs([], "t", "M", [], jobs=2, nodes=2, output_dir=str(tmp_path))
    assert len(shares) == 4 and jobs == []


def test_job_command():
    from astra.cluster.shares import split_spectrum_pks

    shares = split_spectrum_pks([1, 2, 3], 2)
    assert job_command("snr", "BossVisitSpectrum", ["--workers", "2"], shares) == [
        "astra", "run", "snr", "BossVisitSpectrum", "--workers", "2",
        "--spectrum-pk-range", "1", "2", "--spectrum-pk-range", "3", "3", "--range-per-process"]
