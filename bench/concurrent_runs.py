"""Simultaneous ``astra run`` over the same spectra: how many are computed twice.

Writes N synthetic dr13 apStar files, then starts K identical ``astra run`` commands at the
same moment (K = 1, 2, 4) over all of them, with claims on (Astra's default) and, for
comparison, K = 2 with ``claims: false``. Every computed spectrum is logged once per
computation (``tests/claim_tasks.py``: EstimateSNR that appends its task id to a file), so a
spectrum computed twice is counted from the log, not guessed from timings.

Columns: wall seconds until the last run exits, spectra computed (log lines), distinct
spectra, duplicates (computations beyond the first) as a number and a fraction of N, the exit
codes, and the peak RSS of the largest run.

Usage::

    python bench/concurrent_runs.py            # N = 10000
    python bench/concurrent_runs.py --quick    # N = 1000
"""

import argparse
import collections
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")


def _write_tree(sas, n):
    from astra.tools.synthetic.tree import write_sample_tree

    write_sample_tree(sas, n, release="dr13", species="apStar", seed=11, n_visits=1)


def _run(k, sas, output, claims, log):
    config = os.path.join(output, "astra.yml")
    os.makedirs(output, exist_ok=True)
    with open(config, "w") as fp:
        fp.write(f"claims: {'true' if claims else 'false'}\noutput_fsync: none\n")
    env = dict(os.environ, ASTRA_OUTPUT_DIR=output, ASTRA_CONFIG=config, ASTRA_CLAIM_LOG=log,
               PYTHONPATH=os.pathsep.join(p for p in (TESTS, os.environ.get("PYTHONPATH")) if p))
    astra = os.path.join(os.path.dirname(sys.executable), "astra")
    argv = [astra, "run", "claim_tasks.LoggedSNR", "--release", "dr13", "--species", "apStar", "--sas-base-dir", sas]
    started = time.perf_counter()
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(k)]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - started
    return wall, [p.returncode for p in procs], outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1000")
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--sas", default=None, help="reuse (or write) the synthetic SAS tree here")
    parser.add_argument("--output", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the runs' outputs go (default /dev/shm)")
    args = parser.parse_args(argv)
    n = args.n or (1000 if args.quick else 10000)
    sas = args.sas or os.path.join(tempfile.gettempdir(), f"astra-bench-concurrent-sas-{n}")
    if not os.path.exists(os.path.join(sas, ".complete")):
        print(f"writing {n} synthetic apStar files to {sas} ...", file=sys.stderr)
        shutil.rmtree(sas, ignore_errors=True)
        _write_tree(sas, n)
        open(os.path.join(sas, ".complete"), "w").close()
    variants = [(1, True), (2, True), (4, True), (2, False)]
    print(f"# concurrent astra run: {os.cpu_count()} cores, N = {n} synthetic dr13 apStar, "
          "EstimateSNR, default batch size, outputs in " + (args.output or tempfile.gettempdir()))
    print(f"{'workload':<24}{'N':>7}{'seconds':>9}{'computed':>10}{'distinct':>10}{'twice':>7}{'fraction':>10}"
          f"{'exit codes':>12}{'peak RSS MB':>13}")
    print("-" * 102)
    for k, claims in variants:
        base = tempfile.mkdtemp(prefix="astra-bench-concurrent-", dir=args.output)
        try:
            log = os.path.join(base, "computed.log")
            wall, codes, outputs = _run(k, sas, os.path.join(base, "out"), claims, log)
            with open(log) as fp:
                ids = [line.split()[0] for line in fp if line.strip()]
            counts = collections.Counter(ids)
            twice = sum(c - 1 for c in counts.values())
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            label = f"{k} run{'s' if k > 1 else ''}, claims {'on' if claims else 'off'}"
            print(f"{label:<24}{n:>7}{wall:>9.1f}{len(ids):>10}{len(counts):>10}{twice:>7}{twice / n:>10.2%}"
                  f"{','.join(map(str, codes)):>12}{rss:>13.0f}")
            for out in outputs:
                summary = [line for line in out.splitlines() if "spectra" in line]
                print(f"    {summary[-1] if summary else out.strip()[-300:]}")
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
