"""`python -m core collections`: what the store holds."""
from __future__ import annotations

import argparse

from ..stores import open_store
from .common import add_store_options, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collections", help="list collections with their embedder and size")
    add_store_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    infos = open_store(store_url(args)).list_collections()
    if not infos:
        print("no collections yet: add files with `python -m core ingest PATH`")
        return 0
    width = max(len(i.name) for i in infos)
    print(f"{'collection':<{width}}  {'embedder':<32}  chunks")
    for info in infos:
        embedder = f"{info.embedder.name} ({info.embedder.dimension}d)"
        print(f"{info.name:<{width}}  {embedder:<32}  {info.count}")
    return 0
