"""Command line: ``python -m analysis run DATA --params FILE [-p key=value ...] [--out DIR]``."""
from __future__ import annotations

import argparse
import sys

from .config import parse_override, resolve, typed
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, InputError
from .progress import reporting


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis",
                                     description="Customer analytics notebooks, end to end.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook on a data file into a run folder")
    run.add_argument("data", help="transaction file: CSV/TXT, XLSX or Parquet")
    run.add_argument("--params", help="YAML parameter file (see params/)")
    run.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                     help="override one parameter; repeatable (value read as YAML)")
    run.add_argument("--out", help="run folder to create (default outputs/<dataset>-<time>); "
                                   "its parent's 'latest' link moves to it when it succeeds")
    run.add_argument("--outputs", metavar="DIR",
                     help="folder that holds the run folders and the 'latest' link "
                          "(default: the project's outputs/)")
    check = sub.add_parser("check", help="load, clean and summarise only: print the ledger "
                                         "and warnings, write nothing")
    check.add_argument("data", help="transaction file: CSV/TXT, XLSX or Parquet")
    check.add_argument("--params", help="YAML parameter file (see params/)")
    check.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                       help="override one parameter; repeatable")
    books = sub.add_parser("notebooks", help="write the notebooks with their Markdown in "
                                             "another language, for JupyterLab")
    books.add_argument("--language", required=True, choices=["en", "zh"])
    books.add_argument("--out", required=True, help="folder for the copies")
    return parser


def main_check(args, overrides: dict) -> int:
    """``python -m analysis check``: load, clean and summarise only; print ledger and warnings."""
    params = typed(resolve(args.params, overrides), str(args.params or "parameters"))
    # the stage's modules take seconds to import; a parameter error is reported before
    from .stage1_cache import transaction_stage
    from .stage1.engine import check_source
    data = check_source(args.data, params)
    warnings: list[str] = []
    ledger, customers, _aggregates = transaction_stage(data, params, warnings)
    print(f"{args.data}: {len(customers):,} customers, "
          f"{int(ledger.set_index('step').at['kept', 'rows']):,} transactions kept")
    print(ledger[["step", "rows", "revenue"]].to_string(index=False))
    for w in warnings:
        print(f"warning: {w}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = dict(parse_override(p) for p in (getattr(args, "param", None) or []))
        if args.command == "run":
            resolve(args.params, overrides)  # a parameter error at once, before the imports
            # the runner's modules (pandas, matplotlib, lifetimes …) take seconds to import
            from .runner import main_run
            with reporting():  # the transaction stage's steps on stderr
                return main_run(args, overrides)
        if args.command == "check":
            with reporting():
                return main_check(args, overrides)
        if args.command == "notebooks":
            from .lab import localised_notebooks  # nbformat: loaded only for this command
            for path in localised_notebooks(args.language, args.out):
                print(path)
            return EXIT_OK
    except InputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted; the partial run folder (if any) is marked by its "
              ".partial name and no earlier run was touched", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
