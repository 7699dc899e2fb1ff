"""Before and after a change: bench/batch_scale.py's tuple and script paths, in CPU time, in turns.

A change to the run loop must not slow it down; on a shared machine the wall time of one run
varies by tens of percent, so this compares CPU time, with the two checkouts taking turns.

* **tuple** -- ``astra.build`` of one ``TrivialSpectrum`` whose ``obj`` is a tuple of N values
  (bench/batch_scale.py's "astra.build (batched)");
* **script** -- ``astra.build`` of N single-spectrum ``StarSpectrum`` tasks built by a script
  (bench/batch_scale.py's script path).

Usage::

    git worktree add /tmp/before main     # or: git archive main | tar -x -C /tmp/before
    python bench/before_after.py --before /tmp/before [-n 20000] [--rounds 5]

Each child runs with ``PYTHONPATH=<checkout>/python`` and prints its wall and CPU seconds of
the measured part (after imports and task construction warm-up); the table gives medians.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(variant, n):
    """Run one variant in this process; print ``{"wall": ..., "cpu": ...}``."""
    sys.path.insert(0, HERE)
    directory = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None, prefix="astra-before-after-")
    os.environ["ASTRA_OUTPUT_DIR"] = directory
    try:
        import astra
        import astra.config

        astra.config.reload()
        from trivial import STAR_KEYS, StarSpectrum, TrivialSpectrum, star_name

        if variant == "tuple":
            tasks = [TrivialSpectrum(obj=tuple(range(n)))]
        else:
            names = [star_name(i) for i in range(n)]
            StarSpectrum(obj=names[0], **STAR_KEYS)  # sdss-access's release list, once per process
        start, cpu = time.perf_counter(), time.process_time()
        if variant == "script":
            tasks = [StarSpectrum(obj=name, **STAR_KEYS) for name in names]
        summary = astra.build(tasks, max_batch_size=1000, log_level="ERROR")
        assert summary.done == n, summary
        print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a checkout of the code before the change")
    parser.add_argument("--after", default=os.path.dirname(HERE), help="the checkout after it (default: this one)")
    parser.add_argument("-n", type=int, default=20000, help="spectra per run (default 20,000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each variant and checkout, in turns")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.n)
    results = {}
    for variant in ("tuple", "script"):
        for _ in range(args.rounds):
            for label, root in (("before", args.before), ("after", args.after)):
                env = dict(os.environ, PYTHONPATH=os.path.join(os.path.abspath(root), "python"))
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--before", args.before,
                                      "--child", variant, "-n", str(args.n)], env=env, capture_output=True,
                                     text=True, check=True).stdout
                results.setdefault((variant, label), []).append(json.loads(out.strip().splitlines()[-1]))
    print(f"# before: {args.before}; after: {args.after}; N = {args.n}; {args.rounds} rounds in turns, medians; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':8} {'before CPU s':>13} {'after CPU s':>12} {'after/before':>13} {'before wall':>12} {'after wall':>11}")
    for variant in ("tuple", "script"):
        before = results[(variant, "before")]
        after = results[(variant, "after")]
        b_cpu = statistics.median(r["cpu"] for r in before)
        a_cpu = statistics.median(r["cpu"] for r in after)
        print(f"{variant:8} {b_cpu:13.3f} {a_cpu:12.3f} {a_cpu / b_cpu:13.3f} "
              f"{statistics.median(r['wall'] for r in before):12.2f} {statistics.median(r['wall'] for r in after):11.2f}")


if __name__ == "__main__":
    main()
