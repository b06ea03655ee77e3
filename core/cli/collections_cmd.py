"""`python -m core collections`: what the store holds."""
from __future__ import annotations

import argparse

from ..errors import CollectionDamaged, ExplorerError, describe
from ..stores import open_store
from .common import add_store_options, say_store_notice, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collections", help="list collections with their embedder and size")
    add_store_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    try:
        infos = store.list_collections()
    except ExplorerError:
        raise
    except Exception as exc:  # listing reads every collection: one damaged collection fails it
        raise CollectionDamaged(f"the store's collections cannot be listed ({describe(exc)}); `python -m core "
                                "check` names the damaged one and `python -m core repair` rebuilds it "
                                "(each with the same --store)") from exc
    say_store_notice(store)
    if not infos:
        print("no collections yet: add files with `python -m core ingest PATH`")
        return 0
    rows = [(info.name, f"{info.embedder.name} ({info.embedder.dimension}d)", f"{info.count:,}") for info in infos]
    name_width = max(len("collection"), *(len(r[0]) for r in rows))
    model_width = max(len("embedder"), *(len(r[1]) for r in rows))
    print(f"{'collection':<{name_width}}  {'embedder':<{model_width}}  {'chunks':>8}")
    for name, embedder, count in rows:
        print(f"{name:<{name_width}}  {embedder:<{model_width}}  {count:>8}")
    return 0
