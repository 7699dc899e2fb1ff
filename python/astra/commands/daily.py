"""``astra daily``: run a pipelines file's day -- migrate, the pipelines, the products."""

import sys

from astra.runs import recorded_as

NAME = "daily"
HELP = "run the day's migrations, pipelines and products of a pipelines file (once a day)"

EPILOG = """
The pipelines file (YAML) lists the migrations, the pipelines (@task methods, their input
models and the pipelines they need) and the products; see docs/daily.rst, and the example
python/astra/etc/daily.yml. Each step is a Luigi task whose output is a marker in
<output_dir>/daily/<date>/: a second run on the same day does nothing, a run after a failure
retries the failed steps (and those that need them) only.

  astra daily pipelines.yml --dry-run          # what is new, what would run
  astra daily pipelines.yml                    # Luigi's local scheduler
  astra daily pipelines.yml --scheduler-host luigid.example.org   # the graph in luigid's UI

Exit status: 0 when every step finished without a bad file or a failed spectrum, 1 otherwise
(the summary says which), 2 for a bad pipelines file or argument.
"""


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    import argparse

    from astra.cli import positive_int

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("file", help="the pipelines file (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="say what is new and what would run; run nothing")
    parser.add_argument("--date", help="the day, YYYY-MM-DD (default: today in UTC)")
    parser.add_argument("--workers", type=positive_int, help="Luigi workers (default: the file's, else 1)")
    parser.add_argument("--scheduler-host", help="a central luigid (default: the scheduler_host setting)")
    parser.add_argument("--scheduler-port", type=positive_int, help="its port (default 8082)")
    parser.add_argument("--local-scheduler", action="store_true", help="Luigi's local scheduler even if one is configured")


def _date(text):
    import datetime

    from astra.cli import UsageError

    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date: expected YYYY-MM-DD, got {text!r}") from None


@recorded_as("astra daily")
def run(args):
    """Run (or preview) the day and print the summary.

    :param args: parsed arguments.
    :returns: the summary's exit status (0 or 1).
    """
    from astra.cli import UsageError
    from astra.daily import DailyFileError, load_plan, preview_daily, run_daily, today

    date = _date(args.date)
    if args.local_scheduler and args.scheduler_host:
        raise UsageError("give --local-scheduler or --scheduler-host, not both")
    try:
        plan = load_plan(args.file)
    except DailyFileError as error:
        raise UsageError(str(error)) from None
    if args.dry_run:
        lines = preview_daily(plan, date)
        width = max(len(step.name) for step, _ in lines)
        print(f"astra daily {(date or today()).isoformat()} ({plan.path}), dry run: nothing is run or written")
        for step, text in lines:
            print(f"  {step.name:<{width}}  [{step.kind}] {text}")
        return 0
    summary = run_daily(plan, date, workers=args.workers, scheduler_host=args.scheduler_host,
                        scheduler_port=args.scheduler_port, local_scheduler=True if args.local_scheduler else None)
    print(summary)
    if any(o.status == "not run" and o.text.startswith("Luigi did not run it") for o in summary.outcomes):
        print(summary.luigi_summary, file=sys.stderr)
    return summary.exit_code
