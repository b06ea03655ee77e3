"""What a chunker would make of a document, before anything is embedded.

The library page redraws this on every change of the chunking settings, so it
looks at the opening of the document only (`PREVIEW_CHARS`) and counts each
chunk's model tokens: a chunk over the model's limit has its end ignored when
embedded, which is the first thing worth seeing when choosing a size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

from .chunking import chunk_document
from .embedders import Embedder
from .errors import LoaderError
from .loaders import load_bytes, load_path
from .pipeline import LoadOptions, LocalFile, Source, Upload
from .types import Chunk, ChunkSettings, Document

PREVIEW_CHARS = 20_000


@dataclass(frozen=True)
class ChunkPreview:
    document: Document  # the previewed opening (at most PREVIEW_CHARS characters)
    truncated: bool  # the document goes on beyond the preview
    chunks: tuple[Chunk, ...]
    tokens: tuple[int, ...]  # model tokens of each chunk, special tokens included
    max_tokens: int  # what the model reads of a chunk; the rest is ignored

    @property
    def over_limit(self) -> list[int]:
        """Positions of the chunks longer than the model reads."""
        return [n for n, count in enumerate(self.tokens) if count > self.max_tokens]


def first_document(source: Source, options: LoadOptions = LoadOptions()) -> Document:
    """The first document a file yields (its first part, or a table's first row)."""
    kwargs = dict(text_field=options.text_field, category_field=options.category_field,
                  metadata_fields=options.metadata_fields, category=options.category)
    if isinstance(source, Upload):
        documents = load_bytes(source.name, source.data, **kwargs)
    else:
        documents = load_path(source.path if isinstance(source, LocalFile) else Path(source), **kwargs)
    first = next(islice(documents, 1), None)
    if first is None:
        name = source.name if isinstance(source, (Upload, LocalFile)) else Path(source).name
        raise LoaderError(name, "no text to preview")
    return first


def preview(document: Document, settings: ChunkSettings, embedder: Embedder,
            chars: int = PREVIEW_CHARS) -> ChunkPreview:
    """Chunk the first `chars` characters of `document` as ingest would, and count tokens."""
    opening = replace(document, text=document.text[:chars])
    count_tokens = embedder.count_tokens if settings.unit == "tokens" else None
    chunks = tuple(chunk_document(opening, settings, count_tokens=count_tokens))
    tokens = tuple(embedder.count_tokens([c.text for c in chunks])) if chunks else ()
    return ChunkPreview(opening, len(document.text) > chars, chunks, tokens, embedder.max_tokens)
