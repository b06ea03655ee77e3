"""Chunking sweep: which chunker, size and overlap retrieves best on labelled questions?

Each setting of the grid gets a collection of its own in a scratch store, named
by a hash of the corpus, the embedder and the setting: a second sweep over the
same corpus reuses what the first embedded (ingest is content-addressed, so
reopening an existing collection embeds nothing). Every question then runs
through the app's own `search_many`, chunk hits become document hits (each
document at its best chunk's rank, i.e. max over its chunks) and the rankings
are scored at document level with the evaluator's nDCG@10 and recall@k, so a
"whole documents" setting scores exactly what `core.evaluation` reports.

Questions come from a BEIR folder (optionally cut to a subset, written out as
a BEIR folder of its own) or from a small CSV (question, expected_source and
optionally expected_passage). A question with a passage is judged per passage:
a chunk answers it when it holds the whole passage (whitespace aside), and the
question's ranking is over chunks, so a setting that cuts the passage apart, or
buries it in a chunk the model reads only the start of, scores lower. Without
a passage it is judged per source file, which on a few long documents cannot
tell settings apart (every setting finds the right book).

`estimate_seconds` says how long a sweep will take before it runs: the tokens
each new setting must embed over the embedder's measured speed.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .chunking import METHODS, validate
from .config import DATA_DIR
from .embedders import Embedder
from .errors import ExplorerError
from .evaluation import DOC_ID, WHOLE_DOCUMENTS, Benchmark, Qrels, documents_ranked, load_beir, ndcg_at, recall_at
from .pipeline import LoadOptions, Source, Upload, ingest
from .search import DEFAULT_MODE, MODES, FusionSettings, Mode, SearchResult, search_many
from .stores import Store
from .types import ChunkSettings, ProgressCallback, ProgressEvent, content_hash, no_progress

SWEEP_STORE_DIR = DATA_DIR / "cache" / "sweeps"
SOURCE_KEY = "source"  # chunk metadata naming the file a chunk came from
MAX_CHUNK_DEPTH = 1000  # chunks read per question, however finely documents are cut
SUBSET_REPORT = 10_000  # documents read between progress reports while a BEIR subset is cut
TOKEN_BLOCK_CHARS = 1_000_000  # characters counted between progress reports before a sweep


class SweepError(ExplorerError):
    """A question set or a sweep grid cannot be used as given."""


# -- what is swept over --------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepCorpus:
    """The documents each setting ingests, and the chunk metadata field naming a chunk's document.

    `fingerprint` identifies the content (not the file names' paths), so the
    per-setting collections are found again whatever folder the files sit in.
    """

    sources: tuple[Source, ...]
    options: LoadOptions
    doc_key: str
    fingerprint: str
    documents: int


@dataclass(frozen=True)
class QuestionSet:
    """Questions by id and, per question, the documents that answer it (graded, > 0 = relevant)."""

    queries: Mapping[str, str]
    qrels: Qrels
    passages: Mapping[str, str] = field(default_factory=dict)  # question id -> the text that answers it

    def fingerprint(self) -> str:
        return content_hash(json.dumps({"q": dict(self.queries), "r": self.qrels, "p": dict(self.passages)},
                                       sort_keys=True))


def _source_bytes(source: Source) -> bytes:
    return source.data if isinstance(source, Upload) else Path(source).read_bytes()


def _source_name(source: Source) -> str:
    return source.name if isinstance(source, Upload) else Path(source).name


def files_corpus(sources: Sequence[Source], options: LoadOptions = LoadOptions()) -> SweepCorpus:
    """Plain files (paths or uploads): a document is a file, named by its file name."""
    if not sources:
        raise SweepError("the sweep needs at least one document")
    parts = [part for s in sources for part in (_source_name(s), content_hash(_source_bytes(s)))]
    return SweepCorpus(tuple(sources), options, SOURCE_KEY, content_hash("files", *parts), len(sources))


def beir_corpus(bench: Benchmark) -> SweepCorpus:
    """A BEIR corpus.jsonl, read as `core.evaluation` reads it: title + text, the `_id` kept per chunk."""
    path = bench.folder / "corpus.jsonl"
    options = LoadOptions(text_field="title,text", metadata_fields=(DOC_ID,), category=bench.name)
    documents = sum(1 for _ in bench.documents())
    return SweepCorpus((path,), options, DOC_ID, content_hash("beir", path.read_bytes()), documents)


def beir_subset(folder: Path, split: str, max_queries: int, max_documents: int, out_root: Path,
                progress: ProgressCallback = no_progress) -> Benchmark:
    """The first `max_queries` judged queries, every document judged for them, then other documents
    in corpus order up to `max_documents` in all, written as a BEIR folder under `out_root`.

    Embedding all of a real corpus for every setting of a sweep takes too long on
    a laptop; a subset that keeps each question's answers keeps the scores meaningful
    (they come out higher than on the full corpus: fewer distractors).
    """
    bench = load_beir(folder, split)
    query_ids = list(bench.queries)[:max_queries]
    judged = dict.fromkeys(d for q in query_ids for d in bench.qrels[q])
    if len(judged) > max_documents:
        raise SweepError(f"the first {len(query_ids)} queries judge {len(judged)} documents, more than "
                         f"--max-docs {max_documents}: raise it or take fewer queries")
    rows, others = [], max_documents - len(judged)
    for read, doc in enumerate(bench.documents(), 1):
        if read % SUBSET_REPORT == 0:
            progress(ProgressEvent("reading documents", read, 0, f"{len(rows):,} kept"))
        if doc.id in judged or others > 0:
            others -= doc.id not in judged
            rows.append({"_id": doc.id, "title": doc.title, "text": doc.text})
    key = content_hash(str(folder.resolve()), split, str(max_queries), str(max_documents))[:12]
    out = out_root / f"{bench.name}-{split}-{len(query_ids)}q-{len(rows)}d-{key}"
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (out / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": bench.queries[q]}) + "\n" for q in query_ids), encoding="utf-8")
    lines = [f"{q}\t{d}\t{g}" for q in query_ids for d, g in bench.qrels[q].items()]
    (out / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n",
                                                encoding="utf-8")
    subset = load_beir(out, split)
    return Benchmark(name=bench.name, folder=out, queries=subset.queries, qrels=subset.qrels)


def beir_questions(bench: Benchmark) -> QuestionSet:
    return QuestionSet(bench.queries, bench.qrels)


QUESTION_COLUMNS = ("question", "expected_source")
PASSAGE_COLUMN = "expected_passage"  # optional: the words that answer the question, quoted from the source


def csv_questions(text: str, known_sources: Iterable[str] | None = None) -> QuestionSet:
    """A CSV with columns question, expected_source (several sources separated by ';') and
    optionally expected_passage.

    A question with a passage is judged per passage (a chunk holding it answers it),
    one without per source file: it is answered well when chunks of its expected
    file rank first. Sources the corpus does not hold are refused, naming them,
    since they would silently score zero.
    """
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    header = {(name or "").strip().lower() for name in (rows[0].keys() if rows else ())}
    if not rows or not set(QUESTION_COLUMNS) <= header:
        raise SweepError("the questions CSV needs a header with the columns question, expected_source "
                         "and at least one row")
    known = set(known_sources) if known_sources is not None else None
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    passages: dict[str, str] = {}
    for line_no, row in enumerate(rows, start=2):
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        question, expected = cells["question"], [s.strip() for s in cells["expected_source"].split(";") if s.strip()]
        if not question and not expected:
            continue
        if not question or not expected:
            raise SweepError(f"questions CSV line {line_no}: both question and expected_source are needed")
        unknown = [s for s in expected if known is not None and s not in known]
        if unknown:
            raise SweepError(f"questions CSV line {line_no}: {', '.join(unknown)} is not among the documents "
                             f"({', '.join(sorted(known or ()))})")
        query_id = f"q{len(queries) + 1}"
        queries[query_id] = question
        qrels[query_id] = dict.fromkeys(expected, 1)
        if passage := " ".join(cells.get(PASSAGE_COLUMN, "").split()):
            passages[query_id] = passage
    if not queries:
        raise SweepError("the questions CSV holds no question")
    return QuestionSet(queries, qrels, passages)


ANSWER = "\0answer"  # the one relevant item of a passage-judged question's ranking


def passage_ranked(results: Sequence[SearchResult], passage: str) -> list[str]:
    """Chunk results -> ranking in which every chunk holding `passage` is ANSWER (first place kept)."""
    return list(dict.fromkeys(ANSWER if passage in " ".join(r.text.split()) else r.id for r in results))


def missing_passages(corpus: SweepCorpus, questions: QuestionSet) -> list[str]:
    """Questions whose passage no document of a files corpus holds (they would score zero whatever the setting)."""
    texts = [" ".join(_source_bytes(s).decode("utf-8", errors="replace").split()) for s in corpus.sources]
    return [questions.queries[q] for q, passage in questions.passages.items()
            if not any(passage in text for text in texts)]


def parse_setting(spec: str) -> ChunkSettings:
    """`method:size:overlap[:unit]` (unit tokens unless given), or `whole` for one chunk per document."""
    if spec.strip().lower() == "whole":
        return WHOLE_DOCUMENTS
    parts = spec.strip().split(":")
    if len(parts) not in (3, 4) or parts[0] not in METHODS:
        raise SweepError(f"chunk setting {spec!r}: expected method:size:overlap[:unit] with method one of "
                         f"{', '.join(METHODS)}, or 'whole'")
    try:
        size, overlap = int(parts[1]), int(parts[2])
    except ValueError as exc:
        raise SweepError(f"chunk setting {spec!r}: size and overlap must be whole numbers") from exc
    settings = ChunkSettings(method=parts[0], size=size, overlap=overlap,  # type: ignore[arg-type]
                             unit=parts[3] if len(parts) == 4 else "tokens")  # type: ignore[arg-type]
    validate(settings)
    return settings


def grid(methods: Sequence[str], sizes: Sequence[int], overlaps: Sequence[int], unit: str = "tokens",
         whole_documents: bool = False) -> list[ChunkSettings]:
    """Every method x size x overlap, skipping overlaps not smaller than the size."""
    settings = [ChunkSettings(method=m, size=s, overlap=o, unit=unit)  # type: ignore[arg-type]
                for m, s, o in itertools.product(methods, sorted(set(sizes)), sorted(set(overlaps))) if o < s]
    for setting in settings:
        validate(setting)
    settings += [WHOLE_DOCUMENTS] if whole_documents else []
    if not settings:
        raise SweepError("the grid is empty: pick at least one method and size, with overlaps below the sizes")
    return settings


# -- running it ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SettingScores:
    """Document-level scores of one chunk setting, means over the questions."""

    setting: str  # ChunkSettings.key()
    collection: str
    chunks: int
    ndcg_10: float
    recall_k: float
    k: int
    queries: int
    embedded_now: int  # chunks the model embedded in this run (not those added from the embedding cache)
    seconds: float


def collection_name(corpus: SweepCorpus, embedder: Embedder, settings: ChunkSettings) -> str:
    return "sweep-" + content_hash(corpus.fingerprint, embedder.name, settings.key())[:24]


def _scaled(progress: ProgressCallback, step: int, steps: int, label: str) -> ProgressCallback:
    """One setting's progress as its share of the whole sweep."""
    def report(event: ProgressEvent) -> None:
        fraction = min(event.done / event.total, 1.0) if event.total else 0.0
        progress(ProgressEvent(f"{label}: {event.stage}", int(1000 * (step + fraction)), 1000 * steps,
                               event.detail))
    return report


def score_setting(store: Store, corpus: SweepCorpus, questions: QuestionSet, embedder: Embedder,
                  settings: ChunkSettings, mode: Mode = DEFAULT_MODE, k: int = 10,
                  progress: ProgressCallback = no_progress) -> SettingScores:
    """Ingest the corpus cut one way (reusing its collection when present) and score the questions."""
    if mode not in MODES:
        raise SweepError(f"unknown search mode {mode!r}; expected one of {', '.join(MODES)}")
    if k < 1:
        raise SweepError("recall@k needs k of at least 1")
    started = time.perf_counter()
    name = collection_name(corpus, embedder, settings)
    collection = store.open_collection(name, embedder.info)
    report = ingest(corpus.sources, collection, embedder, settings, corpus.options, progress)
    if report.failures:
        raise SweepError(f"could not ingest {report.failures[0]}")
    chunks = collection.count()
    # Deep enough to see k (and 10) distinct documents however many chunks each has.
    depth = min(MAX_CHUNK_DEPTH, max(k, 10) * 10 * math.ceil(chunks / max(corpus.documents, 1)))
    query_ids = list(questions.queries)
    results = search_many(collection, embedder, [questions.queries[q] for q in query_ids], mode=mode,
                          k=depth, fusion=FusionSettings())
    rankings = [passage_ranked(r, questions.passages[q]) if q in questions.passages
                else documents_ranked(r, corpus.doc_key) for q, r in zip(query_ids, results)]
    judged = [{ANSWER: 1} if q in questions.passages else questions.qrels[q] for q in query_ids]
    return SettingScores(
        setting=settings.key(), collection=name, chunks=chunks,
        ndcg_10=sum(ndcg_at(r, j, 10) for r, j in zip(rankings, judged)) / len(query_ids),
        recall_k=sum(recall_at(r, j, k) for r, j in zip(rankings, judged)) / len(query_ids),
        k=k, queries=len(query_ids), embedded_now=report.chunks_embedded, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class SweepEstimate:
    """How long a sweep should take, told before it runs."""

    seconds: float
    new_settings: int  # settings that must be ingested (the others are already in the scratch store)
    tokens: int  # tokens to embed in all


def embedding_speed(embedder: Embedder, sample: Sequence[str]) -> float:
    """Tokens per second the embedder manages on `sample` (a few real chunks), measured now."""
    tokens = sum(min(n, embedder.max_tokens) for n in embedder.count_tokens(sample))
    started = time.perf_counter()
    embedder.embed(sample)
    return tokens / max(time.perf_counter() - started, 1e-6)


def corpus_tokens(corpus: SweepCorpus, embedder: Embedder, progress: ProgressCallback = no_progress) -> int:
    """Model tokens in a files corpus (a BEIR corpus counts its JSON lines whole), a block of whole lines at a
    time so that a large file reports progress (each block adds its own two special tokens: noise in an estimate)."""
    blocks = [block for source in corpus.sources
              for block in _line_blocks(_source_bytes(source).decode("utf-8", errors="replace"))]
    total, done, tokens = sum(map(len, blocks)), 0, 0
    for block in blocks:
        progress(ProgressEvent("counting tokens", done, total, "characters"))
        tokens += embedder.count_tokens([block])[0]
        done += len(block)
    progress(ProgressEvent("counting tokens", total, total, "characters"))
    return tokens


def _line_blocks(text: str, size: int = TOKEN_BLOCK_CHARS) -> list[str]:
    """`text` cut after a newline once every `size` characters (a text without one stays whole)."""
    blocks, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        blocks.append(text[start:end])
        start = end
    return blocks


def estimate_seconds(store: Store, corpus: SweepCorpus, embedder: Embedder, settings: Sequence[ChunkSettings],
                     corpus_tokens: int, tokens_per_second: float,
                     at_hand: Sequence[ChunkSettings] = ()) -> SweepEstimate:
    """Settings whose collection exists cost nothing, nor do those whose vectors are `at_hand` (the
    samples' shipped vectors); a new one embeds the corpus once (more with overlap), each chunk read up
    to the model's limit, at the measured speed."""
    existing = {info.name for info in store.list_collections()}
    tokens, new = 0, 0
    for setting in settings:
        if collection_name(corpus, embedder, setting) in existing or setting in at_hand:
            continue
        new += 1
        if setting == WHOLE_DOCUMENTS:
            tokens += min(corpus_tokens, embedder.max_tokens * corpus.documents)
        elif setting.unit == "tokens":
            repeat = setting.size / max(setting.size - setting.overlap, 1)
            tokens += int(corpus_tokens * repeat * min(1.0, embedder.max_tokens / setting.size))
        else:  # chars or words: no size in tokens to cap by; count the corpus (and its overlap) once
            tokens += int(corpus_tokens * setting.size / max(setting.size - setting.overlap, 1))
    return SweepEstimate(tokens / max(tokens_per_second, 1e-6), new, tokens)


def run_sweep(store: Store, corpus: SweepCorpus, questions: QuestionSet, embedder: Embedder,
              settings: Sequence[ChunkSettings], mode: Mode = DEFAULT_MODE, k: int = 10,
              progress: ProgressCallback = no_progress, results_dir: Path | None = None) -> list[SettingScores]:
    """Score every setting, in the order given. With `results_dir`, scores are kept there as JSON and
    an identical later run (same corpus, model, setting, questions, mode, k) reads them back."""
    if not questions.queries:
        raise SweepError("the sweep needs at least one question")
    out = []
    for step, setting in enumerate(settings):
        progress(ProgressEvent(setting.key(), 1000 * step, 1000 * len(settings)))
        key = content_hash(collection_name(corpus, embedder, setting), questions.fingerprint(), mode, str(k))
        cached = results_dir / f"{key[:24]}.json" if results_dir else None
        if cached and cached.is_file():
            out.append(replace(SettingScores(**json.loads(cached.read_text(encoding="utf-8"))), embedded_now=0))
            continue
        scores = score_setting(store, corpus, questions, embedder, setting, mode, k,
                               _scaled(progress, step, len(settings), setting.key()))
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(asdict(scores)), encoding="utf-8")
        out.append(scores)
    progress(ProgressEvent("done", 1000 * len(settings), 1000 * len(settings)))
    return out
