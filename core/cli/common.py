"""Options several commands share, so each is spelled and defaulted once."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config import DEFAULT_COLLECTION, DEFAULT_EMBEDDER, default_store_url
from ..errors import ExplorerError
from ..types import ChunkSettings


# Most results one command returns. Chroma's SQLite reads a result's rows with one variable each and
# fails past 32,763 ("too many SQL variables"); nobody reads that many results from a terminal.
MAX_RESULTS = 10_000


def whole_number(low: int = 1, high: int | None = None):
    """An argparse type: a whole number in [low, high], refused with a usage message otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,}, not {value:,}")
        return value
    return parse


def add_k_option(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    parser.add_argument("-k", type=whole_number(1, MAX_RESULTS), default=default,
                        help=f"{what} (default {default}, at most {MAX_RESULTS:,})")


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None, metavar="URL",
                        help="a Chroma folder (default data/store), chroma://HOST:PORT for a Chroma server, "
                             "or postgresql://... for pgvector (default: $EXPLORER_STORE or data/store)")


def add_collection_options(parser: argparse.ArgumentParser) -> None:
    add_store_options(parser)
    parser.add_argument("--collection", default=DEFAULT_COLLECTION, help=f"collection name (default {DEFAULT_COLLECTION})")
    parser.add_argument("--embedder", default=None,
                        help=f"embedding model for a new collection (default {DEFAULT_EMBEDDER}); "
                             "an existing collection uses the model that made it")


def store_url(args: argparse.Namespace) -> str:
    return checked_store_url(args.store or default_store_url())


def say_store_notice(store: Any) -> None:
    """What the user should know about a store before its results (someone else's folder, read from a
    copy that chromadb upgraded), on stderr so that --json output stays clean."""
    notice = getattr(store, "notice", None)
    if notice:
        print(f"note: {notice}", file=sys.stderr)


def checked_store_url(url: str) -> str:
    """A store folder given where a file is (or under one) is refused in words, not as `[Errno 17]`."""
    if not url.strip():  # an unset variable in `--to "$DATABASE_URL"`: not the current folder
        raise ExplorerError("the store URL is empty: give a folder, chroma://HOST:PORT or postgresql://...")
    if "://" in url:
        return url
    for path in (Path(url), *Path(url).parents):
        if path.exists():
            if not path.is_dir():
                raise ExplorerError(f"store {url}: {path} is a file; a Chroma store is a folder "
                                    "(or give chroma://HOST:PORT or postgresql://...)")
            break
    return url


def add_chunking_options(parser: argparse.ArgumentParser) -> None:
    from ..config import DEFAULT_CHUNKING as d

    parser.add_argument("--chunker", choices=["recursive", "paragraph", "sliding", "fixed"], default=d.method,
                        help=f"how to cut documents (default {d.method})")
    parser.add_argument("--size", type=whole_number(1), default=None,
                        help=f"chunk size in --unit (default {d.size} {d.unit})")
    parser.add_argument("--overlap", type=whole_number(0), default=d.overlap, help=f"overlap in --unit (default {d.overlap})")
    parser.add_argument("--unit", choices=["tokens", "words", "chars"], default=None,
                        help="what --size counts (default: tokens; words for sliding, chars for fixed)")


def chunk_settings(args: argparse.Namespace) -> ChunkSettings:
    from ..config import DEFAULT_CHUNKING as d

    natural_unit = {"sliding": "words", "fixed": "chars"}.get(args.chunker, d.unit)
    unit = args.unit or natural_unit
    size = args.size or {"words": 150, "chars": 800}.get(unit, d.size)
    return ChunkSettings(method=args.chunker, size=size, overlap=args.overlap, unit=unit)


def add_beir_options(p: argparse.ArgumentParser) -> None:
    """--beir and --split, as the commands that score a BEIR benchmark take them."""
    p.add_argument("--beir", required=True, type=Path, metavar="DIR",
                   help="folder with corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    p.add_argument("--split", default="test", help="judgments from DIR/qrels/SPLIT.tsv (default test)")
