"""Scale of batch execution: a trivial spectrum task for N = 10^3 .. 10^6 members.

Compares, each in its own process (so peak RSS is its own):

* ``astra.build``: one survey-wide task whose ``obj`` is a tuple of N values, split into
  batches of ``--batch-size`` members and run with Luigi's local scheduler;
* plain Luigi, one task per spectrum (quadratic: only up to the N it finishes in two minutes);
* plain Luigi with ``batch_method=tuple`` (Luigi's scheduler merges the single tasks);
* a raw Python loop writing the same files.

Every variant writes one tiny file per spectrum into a fanned-out directory tree.

Usage::

    python bench/batch_scale.py            # N = 1e3, 1e4, 1e5, 1e6
    python bench/batch_scale.py --quick    # N = 1e3, 1e4 (under a minute)
"""

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

PLAIN_LUIGI_LIMIT_SECONDS = 120


def _define_tasks():
    import luigi

    from trivial import TrivialSpectrum

    class PlainSpectrum(luigi.Task):
        """The same work as a plain Luigi task, one per spectrum."""

        task_namespace = "bench"
        obj = luigi.IntParameter()
        root = luigi.Parameter(significant=False)

        def output(self):
            h = f"{self.obj:08x}"
            return luigi.LocalTarget(os.path.join(self.root, h[-2:], h[-4:-2], f"{h}.txt"))

        def run(self):
            with self.output().open("w") as fp:
                fp.write(str(self.obj))

    class PlainBatchedSpectrum(luigi.Task):
        """Plain Luigi with ``batch_method=tuple``: the scheduler merges tasks."""

        task_namespace = "bench"
        obj = luigi.IntParameter(batch_method=tuple)
        root = luigi.Parameter(significant=False)
        max_batch_size = 1000

        def output(self):
            objs = self.obj if isinstance(self.obj, tuple) else (self.obj,)
            targets = []
            for obj in objs:
                h = f"{obj:08x}"
                targets.append(luigi.LocalTarget(os.path.join(self.root, h[-2:], h[-4:-2], f"{h}.txt")))
            return targets

        def run(self):
            objs = self.obj if isinstance(self.obj, tuple) else (self.obj,)
            for obj, target in zip(objs, self.output()):
                with target.open("w") as fp:
                    fp.write(str(obj))

    return TrivialSpectrum, PlainSpectrum, PlainBatchedSpectrum


def run_variant(variant, n, root, batch_size):
    """Run one variant in this process; return its wall time in seconds."""
    os.environ["ASTRA_OUTPUT_DIR"] = root
    import luigi

    import astra
    import astra.config

    astra.config.reload()
    TrivialSpectrum, PlainSpectrum, PlainBatchedSpectrum = _define_tasks()
    start = time.perf_counter()
    if variant == "astra":
        summary = astra.build([TrivialSpectrum(obj=tuple(range(n)))], max_batch_size=batch_size, log_level="ERROR")
        assert summary.done == n and not summary.failed, summary
    elif variant == "luigi":
        ok = luigi.build([PlainSpectrum(obj=i, root=root) for i in range(n)], local_scheduler=True, log_level="ERROR")
        assert ok
    elif variant == "luigi-batch":
        tasks = [PlainBatchedSpectrum(obj=i, root=root) for i in range(n)]
        ok = luigi.build(tasks, local_scheduler=True, log_level="ERROR")
        assert ok
    elif variant == "raw":
        made = set()
        for i in range(n):
            h = f"{i:08x}"
            directory = os.path.join(root, h[-2:], h[-4:-2])
            if directory not in made:
                os.makedirs(directory, exist_ok=True)
                made.add(directory)
            with open(os.path.join(directory, f"{h}.txt"), "w") as fp:
                fp.write(str(i))
    else:
        raise ValueError(variant)
    return time.perf_counter() - start


def measure(variant, n, batch_size, directory):
    """Run a variant in a fresh process; return (seconds, peak RSS in MB)."""
    root = tempfile.mkdtemp(prefix=f"astra-bench-{variant}-", dir=directory)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--n", str(n), "--root", root, "--batch-size", str(batch_size)],
            capture_output=True,
            text=True,
            timeout=PLAIN_LUIGI_LIMIT_SECONDS * 3,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{variant} N={n} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        return result["seconds"], result["rss_mb"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e3 and 1e4 only")
    parser.add_argument("--batch-size", type=int, default=1000, help="members per batch for astra.build")
    parser.add_argument("--max-n", type=int, default=None, help="largest N to run")
    parser.add_argument(
        "--dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the outputs go (default /dev/shm: measures Astra, not the disk)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        seconds = run_variant(args.child, args.n, args.root, args.batch_size)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "rss_mb": rss}))
        return

    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    if args.max_n:
        sizes = [n for n in sizes if n <= args.max_n]
    print(f"# batch scale: {os.cpu_count()} cores, batch size {args.batch_size}, outputs in {args.dir or tempfile.gettempdir()}")
    header = f"{'workload':<28}{'N':>10}{'seconds':>10}{'us/spectrum':>13}{'vs raw':>8}{'peak RSS MB':>13}"
    print(header)
    print("-" * len(header))
    projected = {}  # variant -> projected seconds at the next N
    history = {}  # variant -> measured seconds at the previous N
    for n in sizes:
        raw_seconds, raw_rss = measure("raw", n, args.batch_size, args.dir)
        rows = [("raw Python loop", raw_seconds, raw_rss)]
        seconds, rss = measure("astra", n, args.batch_size, args.dir)
        rows.insert(0, ("astra.build (batched)", seconds, rss))
        for variant, label in (("luigi-batch", "luigi batch_method=tuple"), ("luigi", "plain luigi, 1 task/spectrum")):
            if projected.get(variant, 0) > PLAIN_LUIGI_LIMIT_SECONDS:
                rows.append((label, None, projected[variant]))
                projected[variant] *= 10 ** 2
                continue
            seconds, rss = measure(variant, n, args.batch_size, args.dir)
            rows.append((label, seconds, rss))
            # Growth exponent from the last two sizes (2 when unknown: plain Luigi is quadratic).
            previous = history.get(variant)
            exponent = max(1.0, math.log10(seconds / previous)) if previous else 2.0
            projected[variant] = seconds * 10**exponent
            history[variant] = seconds
        for label, seconds, rss in rows:
            if seconds is None:
                print(f"{label:<28}{n:>10}   not run: projected {rss:,.0f} s (> 2 min)")
                continue
            per = 1e6 * seconds / n
            print(f"{label:<28}{n:>10}{seconds:>10.2f}{per:>13.1f}{seconds / raw_seconds:>8.2f}{rss:>13.0f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
