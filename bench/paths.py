"""Path resolution: our cached resolver against sdss-access's Path, for apStar files.

Workloads, each timed in its own process (so peak RSS is its own):

* ``ours``: :func:`astra.tasks.io.paths.full_path` for N dr17 apStar paths;
* ``shared Path``: ``Path(release="dr17").full("apStar", ...)`` with one Path object;
* ``Path per call``: ``Path(release=...).full(...)`` constructing a Path per path (the only way
  to get correct paths from sdss-access when releases alternate in one process); measured on
  fewer paths and extrapolated to N (labelled ``extrapolated``);
* ``ours, 4 releases interleaved``: dr13/dr16/dr17/dr19 in turn, against Path per call;
* ``ApStarFile batch``: one batch task of N members, its ``local_paths()`` and ``complete()``.

The ``ours`` worker also counts the ``Path`` objects constructed (``Path.__init__`` wrapped).

Usage::

    python bench/paths.py            # N = 100,000 (Path per call measured on 1,000)
    python bench/paths.py --quick    # under a minute (shared Path on 20,000, per call on 200)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

KEYS = dict(apred="dr17", apstar="stars", telescope="apo25m", prefix="ap", field="120-45")
INTERLEAVED = [
    ("dr13", dict(apred="r6", apstar="stars", telescope="apo25m", prefix="ap", field="120-45")),
    ("dr16", dict(apred="r12", apstar="stars", telescope="apo25m", prefix="ap", field="120-45")),
    ("dr17", KEYS),
    ("dr19", dict(apred="1.3", telescope="apo25m", healpix=1234)),
]


def _count_path_constructions():
    import sdss_access.path

    counter = {"n": 0}
    original = sdss_access.path.Path.__init__

    def counting(self, *args, **kwargs):
        counter["n"] += 1
        original(self, *args, **kwargs)

    sdss_access.path.Path.__init__ = counting
    return counter


def _worker(name, n):
    """Run one workload in this process; return a dict of figures."""
    counter = _count_path_constructions()
    from sdss_access.path import Path

    from astra.tasks.io.paths import full_path

    figures = {}
    if name == "ours":
        full_path("dr17", "apStar", obj="warm-up", **KEYS)
        before = counter["n"]
        started = time.perf_counter()
        for i in range(n):
            full_path("dr17", "apStar", obj=f"2M{i:08d}", **KEYS)
        figures["seconds"] = time.perf_counter() - started
        figures["constructed_timed"] = counter["n"] - before
    elif name == "shared":
        path = Path(release="dr17")
        started = time.perf_counter()
        for i in range(n):
            path.full("apStar", obj=f"2M{i:08d}", **KEYS)
        figures["seconds"] = time.perf_counter() - started
    elif name == "per_call":
        started = time.perf_counter()
        for i in range(n):
            release, keys = INTERLEAVED[i % len(INTERLEAVED)]
            Path(release=release).full("apStar", obj=f"2M{i:08d}", **keys)
        figures["seconds"] = time.perf_counter() - started
    elif name == "interleaved":
        for release, keys in INTERLEAVED:
            full_path(release, "apStar", obj="warm-up", **keys)
        started = time.perf_counter()
        for i in range(n):
            release, keys = INTERLEAVED[i % len(INTERLEAVED)]
            full_path(release, "apStar", obj=f"2M{i:08d}", **keys)
        figures["seconds"] = time.perf_counter() - started
    elif name == "batch":
        from astra.tasks.io import ApStarFile

        started = time.perf_counter()
        task = ApStarFile(release="dr17", obj=tuple(f"2M{i:08d}" for i in range(n)), **KEYS)
        task.local_paths()
        task.complete()
        figures["seconds"] = time.perf_counter() - started
    figures["constructed_total"] = counter["n"]
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _run(name, n, sas):
    env = dict(os.environ, SAS_BASE_DIR=sas)
    out = subprocess.run(
        [sys.executable, __file__, "--worker", name, str(n)], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="finish in under a minute")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]))))
        return

    n = 100_000
    n_shared = 20_000 if args.quick else n
    n_per_call = 200 if args.quick else 1_000
    with tempfile.TemporaryDirectory(prefix="astra-bench-sas-") as sas:
        ours = _run("ours", n, sas)
        shared = _run("shared", n_shared, sas)
        per_call = _run("per_call", n_per_call, sas)
        interleaved = _run("interleaved", n, sas)
        batch = _run("batch", n, sas)

    def scaled(figures, measured):
        return figures["seconds"] * n / measured

    rows = [
        ("apStar dr17 paths", n, ours, "Path.full, one shared Path", shared, n_shared),
        ("apStar dr17 paths", n, ours, "Path(release).full per call", per_call, n_per_call),
        ("apStar dr13/16/17/19 interleaved", n, interleaved, "Path(release).full per call", per_call, n_per_call),
        ("ApStarFile batch: local_paths+complete", n, batch, "Path(release).full per call", per_call, n_per_call),
    ]
    header = f"{'workload':<40} {'N':>8} {'ours s':>8}  {'comparison':<58} {'comp. s':>9} {'ratio':>7} {'RSS ours':>9} {'RSS comp':>9}"
    print(header)
    print("-" * len(header))
    for workload, count, mine, label, theirs, measured in rows:
        seconds = scaled(theirs, measured)
        if measured != count:
            label = f"{label} (extrapolated from {measured:,})"
        print(
            f"{workload:<40} {count:>8,} {mine['seconds']:>8.3f}  {label:<58} {seconds:>9.2f} "
            f"{seconds / mine['seconds']:>6.0f}x {mine['peak_rss_mb']:>7.0f}MB {theirs['peak_rss_mb']:>7.0f}MB"
        )
    print()
    print(
        f"Path objects constructed by ours: {ours['constructed_timed']} during the {n:,} timed resolutions "
        f"({ours['constructed_total']} in the whole process: one per release, when its templates were captured); "
        f"interleaved 4 releases: {interleaved['constructed_total']}; batch task: {batch['constructed_total']}"
    )
    print(f"per-path: ours {ours['seconds'] / n * 1e6:.2f} us, shared Path {shared['seconds'] / n_shared * 1e6:.1f} us, "
          f"Path per call {per_call['seconds'] / n_per_call * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
