"""Scale of batch execution: a trivial spectrum task for N = 10^3 .. 10^6 members.

Compares, each in its own process (so peak RSS is its own):

* ``astra.build``: one survey-wide task whose ``obj`` is a tuple of N values, split into
  batches of ``--batch-size`` members and run with Luigi's local scheduler;
* plain Luigi, one task per spectrum (quadratic: only up to the N it finishes in two minutes);
* plain Luigi with ``batch_method=tuple`` (Luigi's scheduler merges the single tasks);
* a raw Python loop writing the same files.

Every variant writes one tiny file per spectrum into a fanned-out directory tree.

The script path (seed 003's way: a script builds one task per spectrum and lets Astra batch
them) is measured separately, for N = 1e5 and (without ``--quick``) 1e6, in turns over
``--rounds`` rounds, medians shown:

* a script that builds N single-spectrum ``StarSpectrum`` tasks (an ``ApStarFile``-inheriting
  task named by six keys) and calls ``astra.build`` on them; the construction time per task is
  shown beside it;
* the same work given as one tuple task;
* a raw Python loop writing the same files (same fan-out of directories), plainly and
  atomically (temporary file, ``fsync``, rename: what Astra's outputs do by default);
* plain ``luigi.Task`` construction with the same six parameters (construction only, on at most
  20,000 tasks: it takes minutes at 1e6).

Each child reports its wall time and its CPU time (``time.process_time``) of the measured part;
on a shared machine the CPU-time ratios are the ones to read.

Usage::

    python bench/batch_scale.py            # N = 1e3, 1e4, 1e5, 1e6; script path at 1e5, 1e6
    python bench/batch_scale.py --quick    # N = 1e3, 1e4; script path at 1e5
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
#: Most plain luigi.Task objects built to time their construction.
PLAIN_CONSTRUCTION_LIMIT = 20_000


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

    class PlainStarSpectrum(luigi.Task):
        """A plain Luigi task with StarSpectrum's six keys (construction only)."""

        task_namespace = "bench"
        release = luigi.Parameter()
        apred = luigi.Parameter()
        apstar = luigi.Parameter()
        telescope = luigi.Parameter()
        field = luigi.Parameter()
        obj = luigi.Parameter()

    return TrivialSpectrum, PlainSpectrum, PlainBatchedSpectrum, PlainStarSpectrum


def run_script_variant(variant, n, batch_size):
    """The script-path variants; return ``{"seconds": ..., "construct": ...}``."""
    import astra
    from trivial import STAR_KEYS, StarSpectrum, star_name

    *_, PlainStarSpectrum = _define_tasks()
    names = [star_name(i) for i in range(n)]
    StarSpectrum(obj=names[0], **STAR_KEYS)  # sdss-access's release list, once per process
    start, cpu = time.perf_counter(), time.process_time()

    def result(**extra):
        return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, **extra}

    if variant == "script":
        tasks = [StarSpectrum(obj=name, **STAR_KEYS) for name in names]
        built, built_cpu = time.perf_counter() - start, time.process_time() - cpu
        summary = astra.build(tasks, max_batch_size=batch_size, log_level="ERROR")
        assert summary.done == n and not summary.failed, summary
        return result(construct=built, construct_cpu=built_cpu)
    if variant == "star-tuple":
        summary = astra.build([StarSpectrum(obj=tuple(names), **STAR_KEYS)], max_batch_size=batch_size, log_level="ERROR")
        assert summary.done == n and not summary.failed, summary
        return result()
    if variant == "luigi-construct":
        tasks = [PlainStarSpectrum(obj=name, **STAR_KEYS) for name in names]
        assert len(tasks) == n
        out = result()
        out["construct"], out["construct_cpu"] = out["seconds"], out["cpu"]
        return out
    if variant in ("star-raw", "star-raw-atomic"):
        raw_loop(names, os.environ["ASTRA_OUTPUT_DIR"], atomic=variant == "star-raw-atomic")
        return result()
    raise ValueError(variant)


def raw_loop(names, root, atomic):
    """The raw loop of the script path: one tiny file per name, no framework.

    Paths fan out like Astra's (two levels of 256 directories from a hash of the name), so both
    create the same number of files in the same number of directories.

    :param atomic: write each file as a careful script would: a temporary file, ``fsync``, then
        a rename (what Astra does by default, ``output_fsync: file``).
    """
    import hashlib

    made = set()
    for name in names:
        h = hashlib.sha256(name.encode()).hexdigest()
        directory = os.path.join(root, h[:2], h[2:4])
        if directory not in made:
            os.makedirs(directory, exist_ok=True)
            made.add(directory)
        path = os.path.join(directory, f"{h}-out.txt")
        if not atomic:
            with open(path, "w") as fp:
                fp.write(name)
            continue
        temporary = os.path.join(directory, f".{h}-out.txt.tmp-{os.getpid()}")
        with open(temporary, "w") as fp:
            fp.write(name)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temporary, path)


def run_variant(variant, n, root, batch_size):
    """Run one variant in this process; return its wall time in seconds."""
    os.environ["ASTRA_OUTPUT_DIR"] = root
    import luigi

    import astra
    import astra.config

    astra.config.reload()
    if variant in SCRIPT_VARIANTS:
        return run_script_variant(variant, n, batch_size)
    TrivialSpectrum, PlainSpectrum, PlainBatchedSpectrum, _ = _define_tasks()
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
    return {"seconds": time.perf_counter() - start}


SCRIPT_VARIANTS = ("script", "star-tuple", "luigi-construct", "star-raw", "star-raw-atomic")


def measure(variant, n, batch_size, directory, full=False, code=None):
    """Run a variant in a fresh process; return (seconds, peak RSS in MB), or its result dict.

    :param code: a ``python/`` directory of another Astra checkout to run instead of this one.
    """
    root = tempfile.mkdtemp(prefix=f"astra-bench-{variant}-", dir=directory)
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join([code, os.path.dirname(os.path.abspath(__file__))])
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--n", str(n), "--root", root, "--batch-size", str(batch_size)],
            capture_output=True,
            text=True,
            timeout=PLAIN_LUIGI_LIMIT_SECONDS * 30,
            env=env,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{variant} N={n} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        return result if full else (result["seconds"], result["rss_mb"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e3 and 1e4 only")
    parser.add_argument("--batch-size", type=int, default=1000, help="members per batch for astra.build")
    parser.add_argument("--max-n", type=int, default=None, help="largest N to run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the script-path variants (medians shown)")
    parser.add_argument("--script-only", action="store_true", help="only the script-path rows")
    parser.add_argument("--script-n", type=int, action="append", help="N of the script-path rows (repeatable)")
    parser.add_argument(
        "--baseline",
        help="the python/ directory of another Astra checkout (e.g. a git worktree of an older commit): "
        "its script-path rows are measured in the same turns",
    )
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
        result = run_variant(args.child, args.n, args.root, args.batch_size)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    if args.max_n:
        sizes = [n for n in sizes if n <= args.max_n]
    print(f"# batch scale: {os.cpu_count()} cores, batch size {args.batch_size}, outputs in {args.dir or tempfile.gettempdir()}")
    header = f"{'workload':<28}{'N':>10}{'seconds':>10}{'us/spectrum':>13}{'vs raw':>8}{'peak RSS MB':>13}"
    print(header)
    print("-" * len(header))
    if not args.script_only:
        survey_rows(sizes, args)
    script_sizes = [100_000] if args.quick else [100_000, 1_000_000]
    if args.max_n:
        script_sizes = [n for n in script_sizes if n <= args.max_n]
    if args.script_n:
        script_sizes = args.script_n
    for n in script_sizes:
        script_rows(n, args)


def survey_rows(sizes, args):
    """The rows of one survey-wide tuple task against plain Luigi and the raw loop."""
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


def _median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def script_rows(n, args):
    """The script path: N single tasks through astra.build, beside one tuple task, raw loops and plain Luigi.

    The variants run in turns, ``--rounds`` times; medians are printed (wall and CPU time of
    the measured part of each child process), with every round's wall time.
    """
    variants = [
        ("star-tuple", n, None),
        ("script", n, None),
        ("star-raw", n, None),
        ("star-raw-atomic", n, None),
        ("luigi-construct", min(n, PLAIN_CONSTRUCTION_LIMIT), None),
    ]
    if args.baseline:
        variants[2:2] = [("star-tuple", n, args.baseline), ("script", n, args.baseline)]
    results = {(v, code): [] for v, _, code in variants}
    for _ in range(max(1, args.rounds)):
        for variant, count, code in variants:
            results[variant, code].append(measure(variant, count, args.batch_size, args.dir, full=True, code=code))
    print(f"# script path, N = {n:,}: StarSpectrum (six keys); {args.rounds} round(s) in turns, medians; "
          f"wall s / CPU s of each child; ratios in CPU time")
    if args.baseline:
        print(f"# rows marked 'baseline' ran the code in {args.baseline}")
    print(f"{'workload':<30}{'N':>9}{'wall s':>9}{'CPU s':>9}{'CPU us/sp':>11}{'RSS MB':>8}  ratio (CPU)")

    def cpu(variant, code=None):
        return _median([r["cpu"] for r in results[variant, code]])

    for variant, count, code in variants:
        rounds = results[variant, code]
        seconds = _median([r["seconds"] for r in rounds])
        cpu_seconds = cpu(variant, code)
        rss = max(r["rss_mb"] for r in rounds)
        every = " ".join(f"{r['seconds']:.2f}" for r in rounds)
        if variant == "star-tuple":
            label = "build, 1 tuple task"
            note = (f"{cpu_seconds / cpu('star-raw'):.2f}x the raw loop, "
                    f"{cpu_seconds / cpu('star-raw-atomic'):.2f}x the atomic raw loop")
        elif variant == "script":
            construct = _median([r["construct_cpu"] for r in rounds])
            label = "script: N tasks + build"
            note = (f"{cpu_seconds / cpu('star-tuple', code):.2f}x the tuple task; "
                    f"building {1e6 * construct / count:.1f} us/task (CPU)")
        elif variant == "star-raw":
            label, note = "raw loop (open, write)", "1.00"
        elif variant == "star-raw-atomic":
            label, note = "raw loop, atomic (fsync+rename)", f"{cpu_seconds / cpu('star-raw'):.2f}x the raw loop"
        else:
            label, note = "plain luigi.Task, build only", f"{1e6 * cpu_seconds / count:.1f} us/task (CPU)"
        if code:
            label = f"baseline {label}"
        per = 1e6 * cpu_seconds / count
        print(f"{label:<30}{count:>9}{seconds:>9.2f}{cpu_seconds:>9.2f}{per:>11.1f}{rss:>8.0f}  {note}; wall rounds: {every}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
