"""Cost of durable outputs: ``output_fsync`` none / file / directory against a plain write.

Writes N small files (2 KiB, like one spectrum's JSON result) fanned out over 16 directories,
on this machine's disk and on tmpfs (``/dev/shm``), with:

* a plain ``open(path, "w")`` and write (not atomic: the comparison);
* :class:`astra.targets.AtomicFileTarget` with ``output_fsync: none`` (temporary file + rename);
* ``output_fsync: file`` (Astra's default: the temporary file is fsync-ed before the rename);
* ``output_fsync: directory`` (also the directory after the rename).

The variants run in turns, ``--rounds`` times each, in a fresh directory each time; the table
gives the median. Peak RSS is this one process's (all variants share it).

Usage::

    python bench/durability.py            # N = 2000, 5 rounds
    python bench/durability.py --quick    # N = 300, 3 rounds
"""

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

PAYLOAD = "x" * 2048
VARIANTS = ("plain write", "atomic, fsync none", "atomic, fsync file", "atomic, fsync directory")


def _set_fsync(mode, config_dir):
    import astra.config

    path = os.path.join(config_dir, f"fsync-{mode}.yml")
    with open(path, "w") as fp:
        fp.write(f"output_fsync: {mode}\n")
    os.environ["ASTRA_CONFIG"] = path
    astra.config.reload()


def _write_all(variant, root, n):
    from astra.targets import AtomicFileTarget

    paths = [os.path.join(root, f"{i % 16:02d}", f"{i}-result.json") for i in range(n)]
    for directory in {os.path.dirname(p) for p in paths}:
        os.makedirs(directory, exist_ok=True)
    started = time.perf_counter()
    if variant == "plain write":
        for path in paths:
            with open(path, "w") as fp:
                fp.write(PAYLOAD)
    else:
        for path in paths:
            with AtomicFileTarget(path).open("w") as fp:
                fp.write(PAYLOAD)
    return time.perf_counter() - started


def measure(where, base, n, rounds, config_dir):
    """Median seconds per variant for ``n`` files under ``base``."""
    modes = {"atomic, fsync none": "none", "atomic, fsync file": "file", "atomic, fsync directory": "directory"}
    times = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:  # in turns: the machine's load affects every variant alike
            _set_fsync(modes.get(variant, "none"), config_dir)
            root = tempfile.mkdtemp(prefix="astra-durability-", dir=base)
            try:
                times[variant].append(_write_all(variant, root, n))
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return {v: statistics.median(t) for v, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 300, 3 rounds")
    parser.add_argument("-n", type=int, default=None, help="files per round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--disk", default=tempfile.gettempdir(), help="a directory on the disk (default: the temp dir)")
    parser.add_argument("--tmpfs", default="/dev/shm", help="a directory on tmpfs")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    rounds = args.rounds or (3 if args.quick else 5)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    config_dir = tempfile.mkdtemp(prefix="astra-durability-config-")
    places = [("disk", args.disk), ("tmpfs", args.tmpfs)]
    print(f"# durability: {os.cpu_count()} cores, {n} files of 2 KiB per round, median of {rounds} rounds")
    print(f"{'workload':<28}{'where':>7}{'N':>7}{'seconds':>10}{'us/file':>10}{'vs plain':>10}{'peak RSS MB':>13}")
    print("-" * 85)
    try:
        for where, base in places:
            if not os.path.isdir(base):
                print(f"{'(skipped)':<28}{where:>7}  {base} does not exist")
                continue
            medians = measure(where, base, n, rounds, config_dir)
            plain = medians["plain write"]
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            for variant in VARIANTS:
                seconds = medians[variant]
                print(f"{variant:<28}{where:>7}{n:>7}{seconds:>10.3f}{1e6 * seconds / n:>10.1f}"
                      f"{seconds / plain:>10.2f}{rss:>13.0f}")
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
