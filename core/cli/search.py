"""`python -m core search QUERY`: vector, keyword or hybrid search from the shell."""
from __future__ import annotations

import argparse
import json
import textwrap

from ..errors import ExplorerError
from ..search import search
from ..types import Filter
from ..workspace import open_workspace
from .common import add_collection_options, add_k_option, say_store_notice, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search a collection", description="Search a collection by meaning, "
                       "by keywords (BM25), or both fused by reciprocal rank fusion.")
    p.add_argument("query")
    add_collection_options(p)
    p.add_argument("--mode", choices=["vector", "keyword", "hybrid"], default="hybrid")
    add_k_option(p, 5, "how many results")
    p.add_argument("--category", action="append", help="only this category (repeatable)")
    p.add_argument("--source", action="append", help="only this source document (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, score, text, metadata}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.query.strip():  # core's search finds nothing for it; from the shell it is a mistake
        raise ExplorerError("the query is empty: give some words to search for")
    workspace = open_workspace(store_url(args), args.collection, args.embedder)
    say_store_notice(workspace.store)
    where = Filter(categories=tuple(args.category) if args.category else None,
                   sources=tuple(args.source) if args.source else None)
    results = search(workspace.collection, workspace.embedder, args.query, mode=args.mode, k=args.k, where=where)
    if args.json:
        print(json.dumps([{"id": r.id, "score": r.score, "text": r.text, "metadata": r.metadata}
                          for r in results], indent=2, ensure_ascii=False))
        return 0
    if not results:
        print("no results")
    for r in results:
        meta = r.metadata
        print(f"{r.rank}. [{r.score:.4f}] {meta.get('source', '?')} #{meta.get('index', '?')}"
              f" ({meta.get('category', 'no category')})")
        print(textwrap.indent(textwrap.shorten(r.text, 400), "   "))
    return 0
