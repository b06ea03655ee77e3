"""The identity invariant, proven over generated sequences rather than listed cases.

A Hypothesis state machine edits real files in two project folders that share file names
(projA/, projB/, each with a sub/ folder; projB/alias.md is a symlink to projA/README.md and
linkA/ a symlink to projA/), renames and deletes them, and runs against a real collection:
ingest of a folder (spelled absolute, "./x/" or through the symlink, with or without prune)
or of one file, uploads (through core's upload path, same-named pairs under one label
included), delete of a document (a row, a file, a file of rows), import of a small Parquet
file, repair (core.health) and copy (core.stores.transfer) to a new collection that the
following steps use. A plain dict, document identity -> text, is the reference model.

After every step: the collection holds exactly the model's documents, each once (one chunk
per document: texts are short); every one is found by its exact text through vector search
and through keyword search; and `check_collection` calls the collection healthy.

The embedder is the real MiniLM (loaded once per session; a short text embeds in milliseconds).
The cheaper "bow-hash" was tried first and cannot be used: its sparse projection sends most single
words to no output dimension, so short texts like these get all-zero vectors (see the report).
Bounded: MAX_EXAMPLES sequences of at most STEPS steps per store (set INVARIANT_EXAMPLES to
run more); Chroma folder and pgvector (marked postgres).
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from core.documents import DocumentKey, delete_document, list_documents
from core.embedders import get_embedder
from core.embedding_cache import EmbeddingCache
from core.errors import ExplorerError
from core.health import check_collection, repair_collection
from core.loaders import upload_source
from core.pipeline import LoadOptions, Upload, ingest, local_files
from core.stores import Store, open_store
from core.stores.transfer import copy_collection
from core.types import ChunkSettings
from core.vectorfiles import Fields, import_vectors
from store_fixtures import backends

# 8 sequences of up to 12 steps per store (16 sequences, <= 192 steps in all): about 20-40 s a store here.
MAX_EXAMPLES = int(os.environ.get("INVARIANT_EXAMPLES", "8"))
STEPS = 12
SETTINGS = ChunkSettings(method="paragraph", size=400, overlap=0, unit="words")  # one chunk per document
OPTIONS = LoadOptions(id_field="id")
WORDS = ("amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
         "kelp", "lagoon", "mesa", "nectar", "opal", "prairie", "quartz", "reef", "sierra", "tundra")
FOLDERS = ("projA", "projB", "projA/sub", "projB/sub")
NAMES = ("README.md", "notes.txt", "guide.md")
LABELS = (None, "projA", "inbox/2024")

sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
row_ids = st.lists(st.sampled_from(("r1", "r2", "r3", "r4")), min_size=1, max_size=3, unique=True)


class IdentityMachine(RuleBasedStateMachine):
    store: Store  # one for the whole run: a PostgreSQL store holds connections, so none is opened per sequence
    workdir: Path = Path()

    def __init__(self) -> None:
        super().__init__()
        self.embedder = get_embedder("minilm")
        self.root = self.workdir / uuid.uuid4().hex[:10]
        self.name = f"inv-{uuid.uuid4().hex[:10]}"
        self.collection = self.store.open_collection(self.name, self.embedder.info)
        self.cache = EmbeddingCache(self.root / "cache.sqlite")
        self.model: dict[DocumentKey, str] = {}
        self.made: list[str] = [self.name]
        self.serial = 0  # makes every generated text unique to its write: two writes never look alike by chance

    @initialize()
    def folders(self) -> None:
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True)
        (self.root / "projB" / "alias.md").symlink_to(self.root / "projA" / "README.md")
        (self.root / "linkA").symlink_to(self.root / "projA", target_is_directory=True)

    def text(self, words: str) -> str:
        self.serial += 1
        return f"{words} w{self.serial}x."

    # -- the reference model's view of the disk --------------------------------------------------
    def files_under(self, folder: Path) -> list[Path]:
        """What a folder ingest reads: regular files (symlinks to files followed), symlinked folders not."""
        found: list[Path] = []
        for dirpath, _, filenames in os.walk(folder):
            found += [Path(dirpath) / f for f in filenames
                      if Path(f).suffix in (".md", ".txt", ".jsonl") and (Path(dirpath) / f).is_file()]
        return found

    def expect_file(self, path: Path) -> None:
        source = os.path.realpath(path)
        for key in [k for k in self.model if k.source == source]:
            del self.model[key]
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                row = json.loads(line)
                self.model[DocumentKey(source, row["id"])] = row["text"]
        else:
            self.model[DocumentKey(source)] = path.read_text()

    # -- the disk ---------------------------------------------------------------------------------
    @rule(folder=st.sampled_from(FOLDERS), name=st.sampled_from(NAMES), words=sentences)
    def write_file(self, folder: str, name: str, words: str) -> None:
        (self.root / folder / name).write_text(self.text(words))

    @rule(folder=st.sampled_from(FOLDERS), ids=row_ids, words=st.lists(sentences, min_size=3, max_size=3))
    def write_rows(self, folder: str, ids: list[str], words: list[str]) -> None:
        lines = [json.dumps({"id": i, "text": self.text(w)}) for i, w in zip(ids, words)]
        (self.root / folder / "rows.jsonl").write_text("\n".join(lines) + "\n")

    @rule(folder=st.sampled_from(FOLDERS), old=st.sampled_from(NAMES), new=st.sampled_from(NAMES))
    def rename_file(self, folder: str, old: str, new: str) -> None:
        if old != new and (self.root / folder / old).is_file():
            (self.root / folder / old).rename(self.root / folder / new)

    @rule(folder=st.sampled_from(FOLDERS), name=st.sampled_from((*NAMES, "rows.jsonl")))
    def remove_file(self, folder: str, name: str) -> None:
        (self.root / folder / name).unlink(missing_ok=True)

    # -- ingest -----------------------------------------------------------------------------------
    @rule(folder=st.sampled_from(("projA", "projB", "projA/sub", "linkA")),
          spelling=st.sampled_from(("absolute", "relative")), prune=st.booleans())
    def ingest_folder(self, folder: str, spelling: str, prune: bool) -> None:
        found = self.files_under(self.root / folder)
        if not found:
            return  # a folder with no supported file is refused (tests/test_identity.py)
        given = str(self.root / folder) if spelling == "absolute" else f"./{folder}/"
        here = os.getcwd()
        os.chdir(self.root)
        try:
            files = local_files([given])
        finally:
            os.chdir(here)
        report = ingest(files, self.collection, self.embedder, SETTINGS, OPTIONS, cache=self.cache, prune=prune)
        assert not report.failures, report.failures
        for path in found:
            self.expect_file(path)
        resolved = os.path.join(os.path.realpath(self.root / folder), "")
        present = {os.path.realpath(p) for p in found}
        gone = sorted({k.source for k in self.model if k.source.startswith(resolved) and k.source not in present})
        assert report.gone == gone
        if prune:
            self.model = {k: v for k, v in self.model.items() if k.source not in gone}

    @rule(folder=st.sampled_from(FOLDERS), name=st.sampled_from((*NAMES, "rows.jsonl", "alias.md")))
    def ingest_one_file(self, folder: str, name: str) -> None:
        path = self.root / folder / name
        if not path.is_file():
            return
        report = ingest(local_files([path]), self.collection, self.embedder, SETTINGS, OPTIONS, cache=self.cache)
        assert report.files == 1 and not report.gone
        self.expect_file(path)

    @rule(name=st.sampled_from(NAMES), label=st.sampled_from(LABELS), words=sentences)
    def upload(self, name: str, label: str | None, words: str) -> None:
        text = self.text(words)
        ingest([Upload(name, text.encode(), folder=label)], self.collection, self.embedder, SETTINGS,
               cache=self.cache)
        self.model[DocumentKey(upload_source(name, label))] = text

    @rule(name=st.sampled_from(NAMES), label=st.sampled_from(LABELS), words=st.lists(sentences, min_size=2,
                                                                                      max_size=2))
    def upload_two_with_one_name(self, name: str, label: str | None, words: list[str]) -> None:
        uploads = [Upload(name, self.text(w).encode(), folder=label) for w in words]
        with pytest.raises(ExplorerError, match="would both be the document"):
            ingest(uploads, self.collection, self.embedder, SETTINGS, cache=self.cache)

    # -- delete, import, repair, copy -------------------------------------------------------------
    @rule(pick=st.integers(min_value=0), whole_file=st.booleans())
    def delete(self, pick: int, whole_file: bool) -> None:
        if not self.model:
            return
        key = sorted(self.model)[pick % len(self.model)]
        if whole_file:
            key = DocumentKey(key.source)
        removed = delete_document(self.collection, key)
        doomed = [k for k in self.model if k == key or (not key.row and k.source == key.source)]
        assert removed == len(doomed)
        for k in doomed:
            del self.model[k]

    @rule(ids=row_ids, words=st.lists(sentences, min_size=3, max_size=3))
    def import_parquet(self, ids: list[str], words: list[str]) -> None:
        texts = [self.text(w) for w in words[:len(ids)]]
        path = self.root / "imports" / "vectors.parquet"
        path.parent.mkdir(exist_ok=True)
        vectors = self.embedder.embed(texts)
        pq.write_table(pa.table({"id": ids, "text": texts, "embedding": [list(map(float, v)) for v in vectors]}),
                       path)
        import_vectors(path, self.store, self.collection.name, Fields(vector="embedding", text="text", id="id"),
                       model="minilm")
        for row_id, text in zip(ids, texts):
            self.model[DocumentKey(os.path.realpath(path), row_id)] = text  # by its path, as an ingested file

    @rule()
    def repair(self) -> None:
        report = repair_collection(self.store, self.collection.name)
        assert report.after.healthy, report.after.problems

    @rule()
    def copy(self) -> None:
        new_name = f"inv-{uuid.uuid4().hex[:10]}"
        self.made.append(new_name)
        assert copy_collection(self.store, self.store, self.collection.name, new_name) == len(self.model)
        self.store.delete_collection(self.collection.name)
        self.collection = self.store.open_collection(new_name, self.embedder.info, create=False)

    # -- the invariant ----------------------------------------------------------------------------
    @invariant()
    def holds_the_model_once_and_finds_every_document(self) -> None:
        if not hasattr(self, "collection"):
            return
        held = list_documents(self.collection)
        assert {d.key for d in held} == set(self.model), "the documents held are the model's"
        assert all(d.chunks == 1 for d in held) and self.collection.count() == len(self.model), "nothing twice"
        stored = self.collection.get()
        assert sorted(stored.texts) == sorted(self.model.values())
        for key, text in self.model.items():
            k = list(self.model.values()).count(text) + 2
            by_vector = self.collection.vector_search(self.embedder.embed([text])[0], k)
            by_keyword = self.collection.keyword_search(text, k)
            for how, hits in (("vector", by_vector), ("keyword", by_keyword)):
                assert any(DocumentKey.of(h.metadata) == key and h.text == text for h in hits), (how, key, text)
        health = check_collection(self.collection)
        assert health.healthy and health.chunks == len(self.model), health.problems

    def teardown(self) -> None:
        names = {i.name for i in self.store.list_collections()}
        for name in self.made:
            if name in names:
                self.store.delete_collection(name)


@backends("chroma", "pgvector")
def test_identity_invariant_holds_over_generated_sequences(store_url: str, tmp_path: Path) -> None:
    IdentityMachine.store, IdentityMachine.workdir = open_store(store_url), tmp_path
    run_state_machine_as_test(IdentityMachine, settings=settings(
        max_examples=MAX_EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
