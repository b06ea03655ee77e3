"""`python -m core ...`: one module per command, each with `register(subparsers)`.

A command module adds its parser and sets `run=handler`; a handler takes the
parsed args and returns an exit code. User-facing errors (ExplorerError) are
printed as one line on stderr with a non-zero exit, never as a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import ExplorerError
from . import (ask_cmd, check_cmd, collections_cmd, copy_cmd, eval_cmd, ingest, labels_cmd, project_cmd, repair_cmd,
               samples_cmd, search, sweep_cmd, vectors_cmd)

COMMANDS = [ingest, search, ask_cmd, collections_cmd, samples_cmd, copy_cmd, eval_cmd, sweep_cmd, project_cmd,
            vectors_cmd, check_cmd, repair_cmd, labels_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Embedding Explorer from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args) or 0
        sys.stdout.flush()  # here, where a closed pipe can still be handled, not at interpreter exit
        return code
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other shell tools do
        quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe


def quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
