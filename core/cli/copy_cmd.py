"""`python -m core copy`: copy a collection to another store (or name), vectors and all."""
from __future__ import annotations

import argparse

from ..stores import open_store
from ..stores.transfer import copy_collection
from ..workspace import no_empty_leftovers
from .common import checked_store_url, store_url
from .ingest import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("copy", help="copy a collection to another store without re-embedding",
                       description="Copy a collection's chunks, metadata and vectors between stores: a Chroma "
                                   "folder, chroma://HOST:PORT or postgresql://... Copying again merges "
                                   "(upserts by chunk id), so an interrupted copy can simply be rerun.")
    p.add_argument("--from", dest="store", default=None, metavar="URL",
                   help="store to copy from (default: $EXPLORER_STORE or data/store)")
    p.add_argument("--to", dest="destination", required=True, metavar="URL", help="store to copy into")
    p.add_argument("--collection", required=True, help="collection to copy")
    p.add_argument("--as", dest="new_name", default=None, metavar="NAME",
                   help="name of the copy (default: the same name)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source = open_store(store_url(args))
    destination = open_store(checked_store_url(args.destination))
    with progress_bar("copy") as show, no_empty_leftovers(destination):
        copied = copy_collection(source, destination, args.collection, args.new_name, progress=show)
    print(f"copied {copied} chunks of '{args.collection}' into '{args.new_name or args.collection}'")
    return 0
