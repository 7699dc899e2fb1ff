"""Time limit per spectrum (issue 23): how late a stuck spectrum is caught, and what a limit costs.

* **Detection latency** -- a ``@task`` and a class-style method hang forever (``time.sleep``) on
  one spectrum of a batch run with ``timeout=LIMIT``; the latency is the time from the moment
  the spectrum has run ``LIMIT`` seconds (its start, noted by the method, plus the limit) to the
  moment its failure is recorded (the flagged row or failure record written, heard as the
  ``member_failed`` event in the run's process). The comparison is the floor for any
  kill-based limit: ``subprocess.run([python, sleep forever], timeout=LIMIT)``, from the
  limit to the return (kill and wait). Idle, and with ``--load`` busy processes spinning on the
  machine's cores.
* **Cost of a limit** -- the same batch of N spectra without a stuck one, with ``timeout=600``
  (a worker process, two pipe messages per spectrum) against no limit (no worker): wall and
  CPU seconds of the run and its children.

Usage::

    python bench/timeout.py            # 5 rounds each, load 4, N=400
    python bench/timeout.py --quick    # 2 rounds, N=100 (under a minute)
"""

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Iterable

WORK = tempfile.mkdtemp(prefix="astra-bench-timeout-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
os.environ["ASTRA_OUTPUT_DIR"] = os.path.join(WORK, "out")
os.environ["ASTRA_DATABASE_URL"] = f"sqlite:///{WORK}/results.db"
os.environ.setdefault("HOME", WORK)

import numpy as np  # noqa: E402

import astra  # noqa: E402
from astra.contrib.rocket import EstimateSNR  # noqa: E402
from astra.core import events  # noqa: E402
from astra.fields import FloatField  # noqa: E402
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar  # noqa: E402
from astra.models.pipeline import PipelineOutputMixin  # noqa: E402

STARTED = os.path.join(WORK, "started")


def _hang(key):
    if str(key) == os.environ.get("BENCH_HANG_ON"):
        with open(STARTED, "w") as fp:
            fp.write(repr(time.time()))
        while True:
            time.sleep(1000)


class BenchSNR(PipelineOutputMixin):
    """The median S/N of a spectrum."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Median S/N of good pixels")


@astra.task
def bench_snr(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], **kwargs) -> Iterable[BenchSNR]:
    """The median S/N; hangs on ``$BENCH_HANG_ON``."""
    for spectrum in spectra:
        _hang(spectrum.spectrum_pk)
        good = spectrum.ivar > 0
        yield BenchSNR.from_spectrum(spectrum, snr=float(np.median(spectrum.flux[good] * np.sqrt(spectrum.ivar[good]))))


class BenchEstimateSNR(EstimateSNR):
    """EstimateSNR that hangs on the obj ``$BENCH_HANG_ON``."""

    task_namespace = "benchtimeout"

    def process(self, task, context):
        _hang(task.obj)
        return super().process(task, context)


class _Heard:
    """A subscriber noting when a failure is announced (after its record is written)."""

    def __init__(self):
        self.at = None

    def member_failed(self, run, failure):
        self.at = time.time()


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _spin():
    while True:
        pass


def _batch(style, keys, rows, limit):
    if style == "task":
        return bench_snr.task_class(spectrum_model="ApogeeCoaddedSpectrumInApStar", spectrum_pk=tuple(keys),
                                    timeout=limit)
    names = [n for n in rows[0] if n != "release"]
    from astra.tasks import members

    values = [tuple(row[n] for n in names) for row in rows]
    return BenchEstimateSNR(release="dr13", timeout=limit, **members.from_rows(names, values))


def _clear(style):
    if style == "task":
        if BenchSNR.table_exists():
            BenchSNR.delete().execute()
    else:
        shutil.rmtree(os.path.join(os.environ["ASTRA_OUTPUT_DIR"], "benchtimeout"), ignore_errors=True)


def _one_run(style, keys, rows, limit, hang_on):
    import luigi

    _clear(style)
    os.environ["BENCH_HANG_ON"] = str(hang_on)
    luigi.task_register.Register.clear_instance_cache()
    batch = _batch(style, keys, rows, limit)
    heard = _Heard()
    events.subscribe(heard)
    wall, cpu = time.perf_counter(), _cpu()
    try:
        astra.build([batch], log_level="ERROR")
    finally:
        events.unsubscribe(heard)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    outcome = batch.batch_outcome
    return heard.at, wall, cpu, outcome


def _latency(style, keys, rows, limit, rounds, hang_keys):
    out = []
    for i in range(rounds):
        if os.path.exists(STARTED):
            os.unlink(STARTED)
        at, _, _, outcome = _one_run(style, keys, rows, limit, hang_keys[i % len(hang_keys)])
        assert outcome.failed == 1 and outcome.done == len(keys) - 1, outcome
        with open(STARTED) as fp:
            started = float(fp.read())
        out.append(at - (started + limit))
    return out


def _subprocess_latency(limit, rounds):
    out = []
    for _ in range(rounds):
        began = time.time()
        try:
            subprocess.run([sys.executable, "-c", "import time\nwhile True: time.sleep(1000)"], timeout=limit)
        except subprocess.TimeoutExpired:
            out.append(time.time() - (began + limit))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, N=100")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=float, default=1.0, help="the time limit, seconds (default 1)")
    parser.add_argument("--load", type=int, default=4, help="busy processes for the loaded rows (default 4)")
    parser.add_argument("-n", type=int, default=400, help="spectra in the cost batch (default 400)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.n = 2, 100
    from astra.cli import main as astra_main
    from astra.tools import synthetic

    sas = os.path.join(WORK, "sas")
    rows = synthetic.write_sample_tree(sas, args.n, release="dr13", species="apStar", seed=3, n_visits=1)
    os.environ["SAS_BASE_DIR"] = sas
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", sas, "--no-progress"])
    keys = [r.spectrum_pk for r in ApogeeCoaddedSpectrumInApStar.select().order_by(ApogeeCoaddedSpectrumInApStar.spectrum_pk)]
    small_keys, small_rows = keys[:10], rows[:10]
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; limit {args.limit:g} s; "
          f"{args.rounds} rounds; latency = failure recorded - (spectrum start + limit)")
    print(f"{'workload':44s} {'load':>5s} {'median ms':>10s} {'max ms':>8s}")
    for load in (0, args.load):
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(load)]
        for p in spinners:
            p.start()
        try:
            time.sleep(0.5 if load else 0)
            for style in ("task", "class"):
                hang = small_keys[3:7] if style == "task" else [r["obj"] for r in small_rows[3:7]]
                lat = _latency(style, small_keys, small_rows, args.limit, args.rounds, hang)
                print(f"{'timeout, ' + ('@task' if style == 'task' else 'class') + ' (10 spectra, 1 stuck)':44s} "
                      f"{load:5d} {1000 * statistics.median(lat):10.0f} {1000 * max(lat):8.0f}")
            lat = _subprocess_latency(args.limit, args.rounds)
            print(f"{'subprocess.run(timeout=) (the floor)':44s} {load:5d} {1000 * statistics.median(lat):10.0f} "
                  f"{1000 * max(lat):8.0f}")
        finally:
            for p in spinners:
                p.kill()
                p.join()
    print()
    print(f"{'cost of a limit (no stuck spectrum)':44s} {'N':>6s} {'wall s':>8s} {'CPU s':>8s} {'CPU ratio':>10s}")
    for style in ("task", "class"):
        results = {}
        for limit in (0.0, 600.0):
            runs = [_one_run(style, keys, rows, limit, "none")[1:3] for _ in range(max(1, args.rounds // 2))]
            results[limit] = (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for limit, (wall, cpu) in results.items():
            name = f"{'@task' if style == 'task' else 'class'}, " + ("timeout=600" if limit else "no limit")
            ratio = cpu / results[0.0][1]
            print(f"{name:44s} {len(keys):6d} {wall:8.2f} {cpu:8.2f} {ratio:9.2f}x")
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
