"""Documents -> Chunks, every chunk an exact span of its document.

One engine serves all four methods. A text is cut at the coarsest separator it
holds (Markdown headings, blank lines, line breaks, sentence ends, whitespace);
pieces still over the size limit are cut again at the next separator, and a
piece with no separator left is cut blindly. Consecutive pieces are then packed
greedily into chunks up to the limit, the last pieces of a chunk repeated at the
start of the next as long as they fit in `overlap`. The methods differ only in
their separators:

- recursive: headings, blank lines, lines, sentences, whitespace;
- paragraph: blank lines, lines, sentences, whitespace;
- sliding:   whitespace, i.e. a window over whole words;
- fixed:     none, i.e. a window cut at exact character counts (in words or
             tokens a character cut means nothing, so there it slides over words).

Sizes are counted in characters, words, or model tokens. Token counts come from
the embedder (`count_tokens`), asked once per batch of pieces; a packed chunk's
count is taken as the sum of its pieces', which is exact for WordPiece models
cut at whitespace, and every packed chunk is counted once more to be sure.

A chunk never alters text: it is `document[start:end]`, whitespace trimmed by
moving the span. A chunk id names the document (its source), the content and
metadata it had, the settings and the position: see `chunk_id`.
"""
from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from .errors import ExplorerError
from .types import Chunk, ChunkSettings, Document, Metadata, content_hash

# Chunk ids start with this. Ids of the first scheme (file hash + settings + position, no
# source) look different, and "v2" ids were made when a file in a folder was known by its path
# relative to that folder, so collections holding either are recognised: see core.identity.
ID_SCHEME = "v3"
# Metadata every chunk gets on top of its document's.
CHUNK_KEYS = ("source", "document", "chunking", "index", "start", "end")

CountTokens = Callable[[list[str]], list[int]]
Span = tuple[int, int]
CutFinder = Callable[[str, int, int], list[int]]  # (text, start, end) -> positions where pieces begin

METHODS = ("fixed", "paragraph", "sliding", "recursive")
UNITS = ("chars", "words", "tokens")

WORD = re.compile(r"\S+")
ATX_HEADING = r"^ {0,3}#{1,6}(?:[ \t]|$)"
SETEXT_HEADING = r"^ {0,3}\S[^\n]*\n {0,3}(?:=+|-{2,})[ \t]*$"
HEADING = re.compile(f"{ATX_HEADING}|{SETEXT_HEADING}", re.MULTILINE)
CODE_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)
BLANK_LINE = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")
LINE_BREAK = re.compile(r"\n")
SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+")
WHITESPACE = re.compile(r"\s+")
BYTE_ORDER_MARK = "\ufeff"  # a text file's first character may be one: never worth a chunk


def _after(pattern: re.Pattern[str]) -> CutFinder:
    """Pieces begin where each match of `pattern` ends (the separator stays with the piece before)."""
    return lambda text, start, end: [m.end() for m in pattern.finditer(text, start, end)]


def _headings(text: str, start: int, end: int) -> list[int]:
    """Pieces begin at each Markdown heading outside fenced code blocks."""
    fences = _fenced_blocks(text, start, end)
    fence_starts = [s for s, _ in fences]

    def in_code(position: int) -> bool:
        n = bisect_right(fence_starts, position) - 1
        return n >= 0 and position < fences[n][1]

    return [m.start() for m in HEADING.finditer(text, start, end) if not in_code(m.start())]


def _fenced_blocks(text: str, start: int, end: int) -> list[Span]:
    blocks: list[Span] = []
    opening: re.Match[str] | None = None
    for fence in CODE_FENCE.finditer(text, start, end):
        if opening is None:
            opening = fence
        elif (fence.group(1)[0] == opening.group(1)[0] and len(fence.group(1)) >= len(opening.group(1))
              and not fence.group(2).strip()):
            blocks.append((opening.start(), fence.end()))
            opening = None
    if opening is not None:  # an unclosed fence runs to the end
        blocks.append((opening.start(), end))
    return blocks


SEPARATORS: dict[str, tuple[CutFinder, ...]] = {
    "recursive": (_headings, _after(BLANK_LINE), _after(LINE_BREAK), _after(SENTENCE_END), _after(WHITESPACE)),
    "paragraph": (_after(BLANK_LINE), _after(LINE_BREAK), _after(SENTENCE_END), _after(WHITESPACE)),
    "sliding": (_after(WHITESPACE),),
}


def _separators(settings: ChunkSettings) -> tuple[CutFinder, ...]:
    if settings.method == "fixed":
        return () if settings.unit == "chars" else SEPARATORS["sliding"]
    return SEPARATORS[settings.method]


def validate(settings: ChunkSettings) -> None:
    """Raise ExplorerError when the settings cannot cut anything sensibly."""
    if settings.method not in METHODS:
        raise ExplorerError(f"unknown chunking method '{settings.method}' (choose from {', '.join(METHODS)})")
    if settings.unit not in UNITS:
        raise ExplorerError(f"unknown chunk size unit '{settings.unit}' (choose from {', '.join(UNITS)})")
    if not isinstance(settings.size, int) or settings.size < 1:
        raise ExplorerError(f"chunk size must be a whole number of at least 1 {settings.unit}, not {settings.size!r}")
    if not isinstance(settings.overlap, int) or not 0 <= settings.overlap < settings.size:
        raise ExplorerError(f"chunk overlap must be at least 0 and smaller than the chunk size ({settings.size} "
                            f"{settings.unit}), not {settings.overlap!r}")


def chunk_id(source: str, document_hash: str, metadata: Metadata, chunking: str, index: int) -> str:
    """The same document (its source) with the same content, metadata and chunk settings, at the
    same position -> the same id, whoever computes it. The source is part of the key, so identical
    files under two names are two documents; the metadata too, so a new category means new ids
    (stored again with the vectors it already has, see core.embedding_cache)."""
    key = content_hash(ID_SCHEME, source, document_hash, json.dumps(metadata, sort_keys=True), chunking)
    return f"{ID_SCHEME}-{key[:32]}-{index:06d}"


def document_metadata(chunk_metadata: Metadata) -> Metadata:
    """The document's own metadata (category, title, row...) out of a stored chunk's."""
    return {k: v for k, v in chunk_metadata.items() if k not in CHUNK_KEYS}


def chunk_document(doc: Document, settings: ChunkSettings, *, count_tokens: CountTokens | None = None,
                   start_index: int = 0) -> list[Chunk]:
    """The chunks of one document (or one part of a large file), numbered from `start_index`."""
    validate(settings)
    return _chunk(doc, settings, _Measure.of(settings, count_tokens), start_index)


def chunk_documents(docs: Iterable[Document], settings: ChunkSettings,
                    count_tokens: CountTokens | None = None) -> Iterator[Chunk]:
    """Chunks of a stream of documents; the parts of one large file are numbered as one
    document, and each row of a CSV / JSONL file as a document of its own."""
    validate(settings)
    measure = _Measure.of(settings, count_tokens)
    current, next_index = None, 0
    for doc in docs:
        key = (doc.source, doc.metadata.get("row"))
        if key != current:
            current, next_index = key, 0
        chunks = _chunk(doc, settings, measure, next_index)
        next_index += len(chunks)
        yield from chunks


def overlaps(chunks: Sequence[Chunk]) -> list[Span]:
    """Character ranges each chunk shares with the one before it (same source), in order."""
    return [(b.start, min(a.end, b.end)) for a, b in zip(chunks, chunks[1:])
            if a.source == b.source and b.start < a.end]


def _chunk(doc: Document, settings: ChunkSettings, measure: _Measure, start_index: int) -> list[Chunk]:
    text = doc.text
    spans = _Packer(text, _separators(settings), measure, settings).spans()
    base: Metadata = {k: v for k, v in doc.metadata.items() if isinstance(v, (str, int, float, bool))}
    chunks: list[Chunk] = []
    previous: Span = (0, 0)
    for raw_start, raw_end in spans:
        start, end = _trimmed(text, raw_start, raw_end)
        if start == end or previous[0] <= start and end <= previous[1]:
            continue  # nothing but whitespace, or nothing the chunk before did not already hold
        previous = (start, end)
        index = start_index + len(chunks)
        absolute = (doc.offset + start, doc.offset + end)
        metadata: Metadata = {**base, "source": doc.source, "document": doc.content_hash,
                              "chunking": settings.key(), "index": index, "start": absolute[0], "end": absolute[1]}
        identity = chunk_id(doc.source, doc.content_hash, document_metadata(metadata), settings.key(), index)
        chunks.append(Chunk(id=identity, text=text[start:end], source=doc.source, start=absolute[0],
                            end=absolute[1], index=index, metadata=metadata))
    return chunks


def _trimmed(text: str, start: int, end: int) -> Span:
    while start < end and (text[start].isspace() or text[start] == BYTE_ORDER_MARK):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] == BYTE_ORDER_MARK):
        end -= 1
    return start, end


@dataclass(frozen=True)
class _Measure:
    """Counts `unit`s in spans of a text, less what every chunk costs anyway (a
    model's special tokens), so that the counts of neighbouring pieces add up."""

    unit: str
    count_tokens: CountTokens | None
    fixed_cost: int = 0

    @classmethod
    def of(cls, settings: ChunkSettings, count_tokens: CountTokens | None) -> _Measure:
        if settings.unit != "tokens":
            return cls(settings.unit, None)
        if count_tokens is None:
            raise ExplorerError("chunk sizes in tokens need the embedding model's tokenizer (count_tokens)")
        fixed_cost = count_tokens([""])[0]
        if settings.size <= fixed_cost:
            raise ExplorerError(f"a chunk of {settings.size} tokens leaves no room for text: the model adds "
                                f"{fixed_cost} special tokens to every chunk")
        return cls("tokens", count_tokens, fixed_cost)

    @property
    def additive(self) -> bool:
        """Is a packed chunk's count exactly the sum of its pieces'? Not for tokens."""
        return self.unit != "tokens"

    def __call__(self, text: str, spans: Sequence[Span]) -> list[int]:
        if self.unit == "chars":
            return [end - start for start, end in spans]
        if self.unit == "words":
            return [len(WORD.findall(text, start, end)) for start, end in spans]
        assert self.count_tokens is not None
        counts = self.count_tokens([text[start:end] for start, end in spans]) if spans else []
        return [count - self.fixed_cost for count in counts]


class _Packer:
    """Cuts one text into chunk spans (untrimmed) as the module docstring describes."""

    def __init__(self, text: str, separators: Sequence[CutFinder], measure: _Measure, settings: ChunkSettings):
        self.text = text
        self.separators = separators
        self.measure = measure
        self.limit = settings.size - measure.fixed_cost
        self.overlap = settings.overlap
        # Blind cuts make pieces of this many units, so that packing them hits the
        # limit and the overlap exactly.
        self.grain = math.gcd(self.limit, self.overlap)

    def spans(self) -> list[Span]:
        return self._split(0, len(self.text), 0)

    def _split(self, start: int, end: int, level: int) -> list[Span]:
        """Chunk spans covering text[start:end], cut at separator `level` or a finer one."""
        for depth in range(level, len(self.separators)):
            cuts = sorted({c for c in self.separators[depth](self.text, start, end) if start < c < end})
            if cuts:
                break
        else:
            return self._cut_blindly(start, end)
        bounds = [start, *cuts, end]
        pieces = list(zip(bounds, bounds[1:]))
        spans: list[Span] = []
        run: list[Span] = []  # consecutive pieces within the limit, packed together
        run_weights: list[int] = []
        for piece, weight in zip(pieces, self.measure(self.text, pieces)):
            if weight <= self.limit:
                run.append(piece)
                run_weights.append(weight)
                continue
            spans += self._pack(run, run_weights)
            run, run_weights = [], []
            spans += self._split(*piece, depth + 1)
        return spans + self._pack(run, run_weights)

    def _cut_blindly(self, start: int, end: int) -> list[Span]:
        """A span with no separator left: fixed windows of characters, else even slices."""
        if self.measure.unit == "chars":
            step = self.limit - self.overlap
            return [(s, min(s + self.limit, end)) for s in range(start, max(end - self.overlap, start + 1), step)]
        pieces, weights = self._slices(start, end, None)
        return self._pack(pieces, weights)

    def _slices(self, start: int, end: int, weight: int | None) -> tuple[list[Span], list[int]]:
        """Slices of text[start:end] of about `grain` units each, none over the limit."""
        if weight is None:
            weight = self.measure(self.text, [(start, end)])[0]
            if weight <= self.limit:
                return [(start, end)], [weight]
        width = max(1, math.ceil((end - start) * self.grain / weight))
        bounds = [*range(start, end, width), end]
        slices = list(zip(bounds, bounds[1:]))
        pieces, weights = [], []
        for piece, piece_weight in zip(slices, self.measure(self.text, slices)):
            if piece_weight <= self.limit or piece[1] - piece[0] == 1:  # one character cannot be cut further
                pieces.append(piece)
                weights.append(piece_weight)
            else:
                more_pieces, more_weights = self._slices(*piece, piece_weight)
                pieces += more_pieces
                weights += more_weights
        return pieces, weights

    def _pack(self, pieces: list[Span], weights: list[int]) -> list[Span]:
        groups = _greedy_groups(weights, self.limit, self.overlap)
        if self.measure.additive:
            return [(pieces[first][0], pieces[last - 1][1]) for first, last in groups]
        return self._confirmed(pieces, groups)

    def _confirmed(self, pieces: list[Span], groups: list[Span]) -> list[Span]:
        """Count each packed chunk; one over the limit (the pieces' counts did not
        simply add up) is halved until every part fits. A lone piece always fits."""
        done: list[Span] = []
        pending = groups
        while pending:
            counts = self.measure(self.text, [(pieces[first][0], pieces[last - 1][1]) for first, last in pending])
            retry: list[Span] = []
            for (first, last), count in zip(pending, counts):
                if count <= self.limit or last - first == 1:
                    done.append((first, last))
                else:
                    middle = (first + last) // 2
                    retry += [(first, middle), (middle, last)]
            pending = retry
        return [(pieces[first][0], pieces[last - 1][1]) for first, last in sorted(done)]


def _greedy_groups(weights: Sequence[int], limit: int, overlap: int) -> list[Span]:
    """[first, last) ranges of consecutive pieces, each group's weight within `limit`;
    a group starts with the previous group's last pieces that fit in `overlap`."""
    groups: list[Span] = []
    first, total = 0, 0
    for n, weight in enumerate(weights):
        if n > first and total + weight > limit:
            groups.append((first, n))
            while first < n and (total > overlap or total + weight > limit):
                total -= weights[first]
                first += 1
        total += weight
    if first < len(weights):
        groups.append((first, len(weights)))
    return groups
