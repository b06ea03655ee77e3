"""`python -m core ...`: one module per command, each with `register(subparsers)`.

A command module adds its parser and sets `run=handler`; a handler takes the
parsed args and returns an exit code. User-facing errors (ExplorerError) are
printed as one line on stderr with a non-zero exit, never as a traceback.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import ExplorerError
from . import (ask_cmd, check_cmd, collections_cmd, copy_cmd, eval_cmd, ingest, project_cmd, repair_cmd, samples_cmd,
               search, sweep_cmd)

COMMANDS = [ingest, search, ask_cmd, collections_cmd, samples_cmd, copy_cmd, eval_cmd, sweep_cmd, project_cmd,
            check_cmd, repair_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Embedding Explorer from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
