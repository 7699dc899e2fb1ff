"""Astra batches through a real luigid with two workers, against Luigi's local scheduler.

A trivial batched Astra task (one tiny file per spectrum, in ``/dev/shm``) runs N spectra in
batches of B through:

* **ours**: a real ``luigid`` (started here, on a free loopback port) and two worker
  processes (``--workers 1`` each), as on a cluster;
* **comparison**: one process with Luigi's local scheduler, ``--workers 2`` and
  ``--workers 1``.

Every variant is a fresh set of processes; the wall time runs from launching the workers to
the last one exiting (interpreter start-up included on both sides; luigid is already up).
``requests`` is the number of API requests luigid answered, counted from its own log
(Tornado's access lines in ``luigi-server.log``): it grows with the number of batches
(N / B), not with N. ``peak RSS`` is the largest resident set of any process of the variant.

Usage::

    python bench/luigid.py            # N = 100,000, B = 1,000; scaling rows B = 10,000 and 100
    python bench/luigid.py --quick    # N = 10,000 (under a minute)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)


def _define_tasks():
    """The benchmark's tasks (registered with Luigi when called)."""
    import luigi

    import astra
    from trivial import TrivialSpectrum

    class Survey(luigi.WrapperTask):
        """``n`` spectra in batches of ``batch_size`` (one survey-wide task, split)."""

        task_namespace = "benchluigid"
        n = luigi.IntParameter()
        batch_size = luigi.IntParameter()

        def requires(self):
            batches = self.__dict__.get("_batches")
            if batches is None:
                survey = TrivialSpectrum(obj=tuple(range(self.n)))
                batches = self._batches = astra.batch_tasks([survey], max_batch_size=self.batch_size)
            return batches

    return TrivialSpectrum, Survey


def worker_main(luigi_args):
    """Run one Luigi worker process over the benchmark's tasks (``--worker`` mode).

    :param luigi_args: the ``luigi`` command line after the program name.
    """
    import luigi

    _define_tasks()
    ok = luigi.run(cmdline_args=luigi_args, detailed_summary=False)
    sys.exit(0 if ok else 1)


def _worker_argv(n, batch_size, scheduler):
    argv = [sys.executable, HERE, "--worker", "--", "benchluigid.Survey", "--n", str(n),
            "--batch-size", str(batch_size), "--no-lock", "--log-level", "WARNING"]
    if scheduler is None:
        return argv
    if isinstance(scheduler, int):
        return argv + ["--local-scheduler", "--workers", str(scheduler)]
    return argv + ["--scheduler-host", scheduler.host, "--scheduler-port", str(scheduler.port), "--workers", "1"]


def _count_outputs(root):
    return sum(len([f for f in files if f.endswith("-out.txt")]) for _, _, files in os.walk(root))


def driver_main(variant, n, batch_size, root):
    """Run one variant (``--child`` mode) and print a JSON line of its measurements.

    :param variant: ``"luigid"`` (two workers against a luigid) or ``"local-K"``.
    :param n: spectra.
    :param batch_size: members per batch.
    :param root: output directory (``ASTRA_OUTPUT_DIR`` of the workers).
    """
    from astra.cluster.luigid import start_luigid

    env = dict(os.environ, ASTRA_OUTPUT_DIR=os.path.join(root, "output"))
    env["LUIGI_CONFIG_PATH"] = os.path.join(root, "luigi.cfg")   # empty: Luigi's defaults
    open(env["LUIGI_CONFIG_PATH"], "w").close()
    logs = os.path.join(root, "logs")
    os.makedirs(logs)
    scheduler, requests = None, None
    if variant == "luigid":
        scheduler = start_luigid(logdir=os.path.join(root, "luigid"), env=env)
        commands = [_worker_argv(n, batch_size, scheduler)] * 2
    else:
        commands = [_worker_argv(n, batch_size, int(variant.split("-")[1]))]
    try:
        start = time.perf_counter()
        procs = []
        for k, argv in enumerate(commands):
            with open(os.path.join(logs, "worker{}.log".format(k)), "wb") as out:
                procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, cwd=root))
        codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - start
        if scheduler is not None:
            requests = sum(scheduler.request_counts().values())
    finally:
        if scheduler is not None:
            scheduler.stop()
    if codes != [0] * len(codes):
        with open(os.path.join(logs, "worker0.log"), errors="replace") as fp:
            raise RuntimeError("{} N={} failed ({}):\n{}".format(variant, n, codes, fp.read()[-3000:]))
    done = _count_outputs(env["ASTRA_OUTPUT_DIR"])
    if done != n:
        raise RuntimeError("{} N={}: {} outputs, expected {}".format(variant, n, done, n))
    rss = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 0) / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss, "requests": requests}))


def measure(variant, n, batch_size, directory):
    """Run a variant in a fresh driver process; return its measurements.

    :returns: a dict with ``seconds``, ``rss_mb`` and ``requests`` (``None`` for local runs).
    """
    root = tempfile.mkdtemp(prefix="astra-bench-luigid-", dir=directory)
    try:
        out = subprocess.run([sys.executable, HERE, "--child", variant, "--n", str(n),
                              "--batch-size", str(batch_size), "--root", root],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError("{} N={} failed:\n{}".format(variant, n, out.stderr[-3000:]))
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _row(workload, n, ours, comparison=None, label=""):
    theirs = comparison["seconds"] if comparison else None
    ratio = "{:.2f}".format(ours["seconds"] / theirs) if theirs else "-"
    return "{:<48}{:>9}{:>9.2f}{:>12}{:>8}{:>10}{:>10.0f}".format(
        workload, n, ours["seconds"], "{:.2f}".format(theirs) if theirs else "-", ratio,
        ours["requests"] if ours["requests"] is not None else "-", ours["rss_mb"]) + label


def main():
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10,000 only (under a minute)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where outputs go (default /dev/shm: measures scheduling, not the disk)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=1000, help="members per batch (main rows)")
    parser.add_argument("--root", help=argparse.SUPPRESS)
    if "--worker" in sys.argv[1:2]:
        return worker_main(sys.argv[sys.argv.index("--") + 1:])
    args = parser.parse_args()
    if args.child:
        return driver_main(args.child, args.n, args.batch_size, args.root)

    b = args.batch_size
    main_n = 10_000 if args.quick else 100_000
    # requests follow the number of batches N / B, not N: same N with 10 B and B / 10, and
    # N / 10 with B / 10 (as many batches as the main row, a tenth of the spectra)
    scaling = [(main_n, 10 * b), (main_n // 10, b // 10), (main_n, b // 10)]
    print("# luigid vs local scheduler: {} cores, outputs in {}, {}".format(
        os.cpu_count(), args.dir or tempfile.gettempdir(), time.strftime("%Y-%m-%d")))
    header = "{:<48}{:>9}{:>9}{:>12}{:>8}{:>10}{:>10}".format(
        "workload", "N", "ours s", "comparison", "ratio", "requests", "RSS MB")
    print(header)
    print("-" * len(header))
    ours = measure("luigid", main_n, b, args.dir)
    local2 = measure("local-2", main_n, b, args.dir)
    local1 = measure("local-1", main_n, b, args.dir)
    batches = -(-main_n // b)
    print(_row("luigid+2 workers vs local --workers 2, B={}".format(b), main_n, ours, local2,
               "   ({} batches; local RSS {:.0f} MB)".format(batches, local2["rss_mb"])), flush=True)
    print(_row("luigid+2 workers vs local --workers 1, B={}".format(b), main_n, ours, local1,
               "   (local RSS {:.0f} MB)".format(local1["rss_mb"])), flush=True)
    for n, size in scaling:
        run = measure("luigid", n, size, args.dir)
        local = measure("local-1", n, size, args.dir)
        print(_row("luigid+2 workers vs local --workers 1, B={}".format(size), n, run, local,
                   "   ({} batches)".format(-(-n // size))), flush=True)
    print("# ours: luigid and two `luigi --workers 1` processes; comparison: one process with the local\n"
          "# scheduler; ratio = ours / comparison (target <= 1.2); requests: luigid API calls (its log);\n"
          "# RSS: the largest process of ours.")


if __name__ == "__main__":
    main()
