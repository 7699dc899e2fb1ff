"""``astra squeue``: list the Slurm jobs Astra submitted and their states.

Reads the ledger of the jobs directory (written by ``astra srun``) and asks Slurm for
the state of each job.  Without ``--all`` only jobs that have not finished are shown.
"""

import datetime
import sys

NAME = "squeue"
HELP = "list the Slurm jobs submitted by astra srun and their states"



def add_arguments(parser):
    """Add the ``astra squeue`` arguments to ``parser``.

    :param parser: an :class:`argparse.ArgumentParser` (the sub-command's parser).
    """
    parser.add_argument("--all", action="store_true", default=False,
                        help="also list finished jobs (completed, failed, cancelled, ...)")
    parser.add_argument("--jobs-dir", default=None,
                        help="jobs directory (default $ASTRA_JOBS_DIR or <output_dir>/slurm-jobs)")


def format_table(rows, headers):
    """Format rows as a left-aligned plain-text table.

    :param rows: sequence of sequences of cell values.
    :param headers: column titles.
    :returns: the table as a string (headers, then one line per row).
    """
    table = [list(map(str, headers))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in table)


def _array_states(records):
    """``{job id: state}`` of the job arrays in the ledger, from their elements' states: the state
    of the array (an element still active if any, else one that did not complete, else
    ``COMPLETED``) and how many elements are in each state, e.g. ``RUNNING (8 elements: 2 RUNNING,
    3 PENDING, 3 COMPLETED)``."""
    from collections import Counter

    from astra.cluster import slurm

    arrays = {}
    for record in records:
        if record.get("array"):
            indices = range(int(record["array"].get("count", 0)))
        elif record.get("resubmits"):
            indices = record.get("elements", ())
        else:
            continue
        arrays[str(record["job_id"])] = ["{}_{}".format(record["job_id"], int(i)) for i in indices]
    names = [name for elements in arrays.values() for name in elements]
    element_states = slurm.job_status(names) if names else {}
    out = {}
    for job_id, elements in arrays.items():
        counts = Counter(element_states[name].split()[0] for name in elements)
        overall = None
        for state in counts:
            overall = slurm.combined_state(overall, state)
        detail = ", ".join("{} {}".format(n, state) for state, n in counts.most_common())
        out[job_id] = "{} ({} elements: {})".format(overall or "UNKNOWN", len(elements), detail)
    return out


def run(args):
    """Print the table of Astra's jobs.

    :param args: the parsed :class:`argparse.Namespace`.
    :returns: exit status (0, or 1 when Slurm cannot be asked).
    """
    from astra.cluster import slurm

    jobs_dir = args.jobs_dir or slurm.default_jobs_dir()
    records = slurm.read_ledger(jobs_dir)
    if not records:
        print("No jobs submitted by Astra in {}".format(jobs_dir))
        return 0
    try:
        states = slurm.job_status([record["job_id"] for record in records], attempts=3)
    except slurm.SlurmError as exc:
        print("astra squeue: {}".format(exc), file=sys.stderr)
        return 1
    try:
        states.update(_array_states(records))
    except slurm.SlurmError as exc:
        print("astra squeue: {}".format(exc), file=sys.stderr)
        return 1
    rows = []
    for record in records:
        state = states.get(str(record["job_id"]), "UNKNOWN")
        if not args.all and state.split()[0] not in slurm.ACTIVE_STATES:
            continue
        submitted = datetime.datetime.fromtimestamp(record.get("submitted", 0)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((record["job_id"], state, record.get("job_name", ""), submitted,
                     record.get("script", "")))
    if not rows:
        print("No running or pending Astra jobs ({} in the ledger; --all lists them)".format(len(records)))
        return 0
    print(format_table(rows, ("JOBID", "STATE", "NAME", "SUBMITTED", "SCRIPT")))
    return 0
