"""Retrieval quality on a BEIR-layout benchmark: nDCG@10, recall@10/100, MRR@10.

The metrics follow trec_eval / pytrec_eval as BEIR reports them: graded gains
taken as they are (not 2^g - 1), log2 discount, the ideal ranking built from
the judgments; a judgment of 0 is "judged, not relevant". Only queries with at
least one relevant judgment are scored.

The corpus goes in through the same pipeline as any upload (one chunk per
document unless a chunker is named), and queries through the same `search`
the app calls, with the same default fusion settings: what is measured here is
what a user gets.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from .embedders import Embedder
from .errors import ExplorerError
from .pipeline import IngestReport, LoadOptions, ingest
from .search import MODES, FusionSettings, Mode, SearchResult, search_many
from .stores.base import Collection
from .types import ChunkSettings, ProgressCallback, no_progress

Qrels = dict[str, dict[str, int]]  # query id -> document id -> graded relevance


class BenchmarkError(ExplorerError):
    """A benchmark folder or judgments file is missing or malformed."""


@dataclass(frozen=True)
class BeirDocument:
    id: str
    title: str
    text: str

    @property
    def content(self) -> str:
        """What gets indexed: title and body, as BEIR's own baselines see them."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass
class Benchmark:
    name: str
    folder: Path
    queries: dict[str, str]  # only the judged ones
    qrels: Qrels

    def documents(self) -> Iterator[BeirDocument]:
        """The corpus, streamed from corpus.jsonl."""
        path = self.folder / "corpus.jsonl"
        for line_no, row in _jsonl(path):
            _require(row, ("_id", "text"), path, line_no)
            yield BeirDocument(id=str(row["_id"]), title=str(row.get("title") or ""), text=str(row["text"]))


def _require(row: dict, fields: Sequence[str], path: Path, line_no: int) -> None:
    missing = [f for f in fields if f not in row]
    if missing:
        raise BenchmarkError(f"{path}:{line_no}: missing field {', '.join(repr(f) for f in missing)} "
                             f"(a BEIR row holds {', '.join(fields)})")


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise BenchmarkError(f"{path} is a folder, not a file")
    if not path.is_file():
        raise BenchmarkError(f"{path} not found: a BEIR folder holds corpus.jsonl, queries.jsonl "
                             "and qrels/<split>.tsv")


def _utf8_lines(path: Path) -> Iterator[str]:
    """A file's lines as text, refused at the first line that is not UTF-8 with a message naming
    the file and line."""
    _check_file(path)
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BenchmarkError(f"{path}:{line_no}: not UTF-8 text; save the file as UTF-8") from exc


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """JSON objects, one a line, with the line number for messages; blank lines skipped."""
    for line_no, line in enumerate(_utf8_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{path}:{line_no}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise BenchmarkError(f"{path}:{line_no}: a line must be a JSON object {{...}}, "
                                 f"not a {type(row).__name__}")
        yield line_no, row


def load_qrels(path: Path) -> Qrels:
    """A judgments file: `query-id  corpus-id  score`, tab separated, one header line (CRLF or LF)."""
    qrels: Qrels = {}
    rows = csv.reader(_utf8_lines(path), delimiter="\t")
    next(rows, None)  # header
    for line_no, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise BenchmarkError(f"{path}:{line_no}: expected query-id, corpus-id, score separated by tabs")
        query_id, doc_id, score = (cell.strip() for cell in row[:3])
        try:
            qrels.setdefault(query_id, {})[doc_id] = int(float(score))
        except (ValueError, OverflowError) as exc:  # "x" and "nan"; "inf"
            raise BenchmarkError(f"{path}:{line_no}: score {score!r} is not a number; grades are whole numbers "
                                 "like 0, 1, 2") from exc
    return qrels


def load_beir(folder: Path, split: str = "test", qrels_file: Path | None = None) -> Benchmark:
    """A BEIR folder; judgments from `qrels_file` if given, else `<folder>/qrels/<split>.tsv`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchmarkError(f"{folder} is not a folder")
    qrels = load_qrels(Path(qrels_file) if qrels_file else folder / "qrels" / f"{split}.tsv")
    judged = {q for q, docs in qrels.items() if any(g > 0 for g in docs.values())}
    queries = {}
    for line_no, row in _jsonl(folder / "queries.jsonl"):
        if str(row.get("_id")) in judged:
            _require(row, ("_id", "text"), folder / "queries.jsonl", line_no)
            queries[str(row["_id"])] = str(row["text"])
    if not queries:
        raise BenchmarkError(f"no query in {folder / 'queries.jsonl'} has a relevant judgment")
    _check_file(folder / "corpus.jsonl")  # read later, after collections are made: refused now
    return Benchmark(name=folder.name, folder=folder, queries=queries,
                     qrels={q: qrels[q] for q in queries})


# -- metrics, per query ------------------------------------------------------------------

def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {doc for doc, g in judged.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if judged.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


@dataclass(frozen=True)
class Scores:
    """Means over the judged queries."""

    ndcg_10: float
    recall_10: float
    recall_100: float
    mrr_10: float
    queries: int


def score_run(run: Mapping[str, Sequence[str]], qrels: Qrels) -> Scores:
    """Score ranked document ids per query; a judged query missing from the run scores 0."""
    judged = [q for q, docs in qrels.items() if any(g > 0 for g in docs.values())]
    if not judged:
        raise BenchmarkError("no query has a relevant judgment")

    def mean(metric: Callable[[Sequence[str], Mapping[str, int]], float]) -> float:
        return sum(metric(run.get(q, ()), qrels[q]) for q in judged) / len(judged)

    return Scores(ndcg_10=mean(ndcg_at), recall_10=mean(lambda r, j: recall_at(r, j, 10)),
                  recall_100=mean(lambda r, j: recall_at(r, j, 100)), mrr_10=mean(mrr_at), queries=len(judged))


# -- running a benchmark through the app's own ingest and search -------------------------------

# What a whole document counts as: one chunk, however long (the model reads its first 256 tokens).
WHOLE_DOCUMENTS = ChunkSettings(method="fixed", size=10**9, overlap=0, unit="chars")
DOC_ID = "_id"  # the corpus field kept as chunk metadata, naming the document a chunk came from
DOCS_PER_QUERY = 100  # deep enough for recall@100


def ingest_benchmark(bench: Benchmark, collection: Collection, embedder: Embedder,
                     settings: ChunkSettings | None = None, progress: ProgressCallback = no_progress) -> IngestReport:
    """corpus.jsonl into the collection via the ingest pipeline, title and text as the document.

    Content-addressed chunk ids make a second run embed nothing, so an existing
    collection is simply brought up to date.
    """
    options = LoadOptions(text_field="title,text", metadata_fields=(DOC_ID,), category=bench.name)
    report = ingest([bench.folder / "corpus.jsonl"], collection, embedder, settings or WHOLE_DOCUMENTS,
                    options, progress)
    if report.failures:
        raise BenchmarkError(f"could not ingest {bench.folder / 'corpus.jsonl'}: {report.failures[0]}")
    return report


def documents_ranked(results: Sequence[SearchResult], doc_key: str = DOC_ID) -> list[str]:
    """Chunk results -> document ids (metadata `doc_key`), each document at its best chunk's place (max-pool)."""
    return list(dict.fromkeys(str(r.metadata[doc_key]) for r in results))


@dataclass(frozen=True)
class ModeScores:
    mode: Mode
    scores: Scores
    seconds: float  # all queries, embedding included


def evaluate(collection: Collection, embedder: Embedder, bench: Benchmark, modes: Sequence[Mode] = MODES,
             fusion: FusionSettings = FusionSettings(), chunks_per_document: float = 1.0) -> list[ModeScores]:
    """Run every judged query in each mode with the app's `search` and score the rankings.

    Documents cut into several chunks need deeper chunk lists to yield 100
    distinct documents: k grows with the chunks per document.
    """
    query_ids = list(bench.queries)
    texts = [bench.queries[q] for q in query_ids]
    k = DOCS_PER_QUERY * max(1, math.ceil(chunks_per_document))
    out = []
    for mode in modes:
        started = time.perf_counter()
        results = search_many(collection, embedder, texts, mode=mode, k=k, fusion=fusion)
        run = {q: documents_ranked(r)[:DOCS_PER_QUERY] for q, r in zip(query_ids, results)}
        out.append(ModeScores(mode, score_run(run, bench.qrels), time.perf_counter() - started))
    return out
