"""Command line: ``kedit run``, ``kedit store-part``, ``kedit book``, ``kedit list``, ``kedit assets``.

Examples::

    kedit run 02_training -p profile paper -p device cuda
    kedit run 01_knowledge_graphs -p n_entities 100 -p ba_m 2
    kedit store-part 05_deletion_impact sweep --profile paper -p seeds "[1]"   # one stored part
    kedit book                       # every chapter on the quick profile, then the HTML
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

import yaml


def _parse_params(pairs: list[list[str]] | None, profile: str | None) -> dict:
    params = {}
    if profile is not None:
        params["profile"] = profile
    for name, value in pairs or []:
        params[name] = yaml.safe_load(value)  # "0.2" -> 0.2, "[6, 12]" -> [6, 12], "ba" -> "ba"
    return params


def _typed_command(argv: list[str] | None) -> str:
    """The command as typed, quotes included, for a stored result's provenance."""
    return "kedit " + shlex.join(sys.argv[1:] if argv is None else argv)


def main(argv: list[str] | None = None) -> int:
    from kedit_utils.book import runner
    from kedit_utils.core.validation import ParameterError

    ap = argparse.ArgumentParser(prog="kedit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="execute one chapter notebook with papermill")
    p_run.add_argument("notebook", help="e.g. 01_knowledge_graphs")
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    p_run.add_argument("--profile", choices=["quick", "paper"])
    p_run.add_argument("--log-output", action="store_true", help="stream cell output (progress bars) to the terminal")
    p_run.add_argument("--rerun", action="store_true",
                       help="execute even when a run with the same inputs is in the cache (its page is reused otherwise)")
    p_run.add_argument("--store", action="store_true",
                       help="after a successful run, store its results with their provenance (command, commit, machine, "
                            "date, wall time) in results/stored/, for the book to show beside the quick build's "
                            "(needs a clean git working tree)")
    p_part = sub.add_parser("store-part", help="run one expensive part of a chapter (e.g. chapter 5's paper-scale sweep "
                                               "for some seeds) and store its results with their provenance in "
                                               "results/stored/ (needs a clean git working tree; kedit_utils.book.stored_parts)")
    p_part.add_argument("notebook", help="e.g. 05_deletion_impact")
    p_part.add_argument("part", help="e.g. sweep or rule")
    p_part.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    p_part.add_argument("--profile", choices=["quick", "paper"])
    p_book = sub.add_parser("book", help="run every chapter, then build the HTML book")
    p_book.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    p_book.add_argument("--profile", choices=["quick", "paper"])
    p_book.add_argument("--no-run", action="store_true", help="build the HTML from the executed chapters (the scorecard is recomputed)")
    p_book.add_argument("--log-output", action="store_true")
    p_book.add_argument("--rerun", action="store_true",
                        help="execute every page even when a run with the same inputs is in the cache")
    sub.add_parser("list", help="list the chapter notebooks and their parameters")
    p_assets = sub.add_parser("assets", help="fetch MathJax and the ipywidgets manager for the offline book")
    p_assets.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "list":
            for name in runner.list_pages():
                print(name, runner.parameter_defaults(runner.read_notebook(name)))
        elif args.cmd == "assets":
            from kedit_utils.book.assets import fetch_assets

            print(f"[kedit] offline assets in {fetch_assets(force=args.force)}")
        elif args.cmd == "run":
            from kedit_utils.book import stored_results

            commit = stored_results.clean_commit() if args.store else None  # before any work
            t0 = time.time()
            out = runner.run_notebook(args.notebook, _parse_params(args.parameter, args.profile), log_output=args.log_output,
                                      reuse=not args.rerun and not args.store)
            print(f"[kedit] executed notebook: {out}")
            if args.store:
                from kedit_utils.book.results import results_dir

                name = runner.notebook_path(args.notebook).stem
                command = _typed_command(argv)
                path = stored_results.store(name, results_dir() / f"{name}.json", command, commit, time.time() - t0)
                print(f"[kedit] stored with its provenance: {path.relative_to(path.parents[2])}")
        elif args.cmd == "store-part":
            from kedit_utils.book import stored_parts, stored_results

            stored_parts.check_part(args.notebook, args.part)
            commit = stored_results.clean_commit()  # before any work
            t0 = time.time()
            results = stored_parts.run_part(args.notebook, args.part, _parse_params(args.parameter, args.profile))
            command = _typed_command(argv)
            path = stored_parts.store_part(results, command, commit, time.time() - t0)
            print(f"[kedit] stored with its provenance: {path.relative_to(path.parents[2])}")
        elif args.cmd == "book":
            t0 = time.time()
            params = _parse_params(args.parameter, args.profile)
            if args.no_run:  # the chapters as they are; the scorecard is recomputed from their results
                runner.run_summaries(params, log_output=args.log_output, reuse=not args.rerun)
            else:
                runner.run_all(params, log_output=args.log_output, reuse=not args.rerun)
            index = runner.build_book()
            print(f"[kedit] book built in {time.time() - t0:.0f} s: open {index}")
    except (ParameterError, runner.NotebookFailed, runner.BookBuildFailed) as err:
        print(f"kedit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
