"""Identity is not content: a document is its source, the content hash only says whether it
changed, and a vector belongs to a text (the embedding cache). Real MiniLM, real stores."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import LONG_DOCS, ROOT
from core.chunking import chunk_documents
from core.embedding_cache import EmbeddingCache
from core.errors import ExplorerError, LoaderError
from core.documents import DocumentKey, delete_document
from core.health import check_collection, repair_collection
from core.identity import OLD_CHUNK_ID, SECOND_SCHEME_ID, move_to_current_scheme
from core.loaders import load_bytes, load_path
from core.pipeline import LoadOptions, LocalFile, Upload, ingest, local_files
from core.stores import open_store
from core.types import Chunk, ChunkSettings, Filter, SourceInfo
from core.vectorfiles import Fields, import_vectors
from store_fixtures import backends

# Words, not tokens: swapping one word for another keeps every later chunk boundary where it was.
SETTINGS = ChunkSettings(method="paragraph", size=60, overlap=0, unit="words")
BOOK = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8")
TEXT = BOOK[3_000:12_000]  # letters from Walton to his sister: paragraphs of real prose


class CountingEmbedder:
    """The real MiniLM, remembering every text it was asked to embed."""

    def __init__(self, real):
        self._real = real
        self.embedded: list[str] = []

    def __getattr__(self, name):
        return getattr(self._real, name)

    def embed(self, texts):
        self.embedded += list(texts)
        return self._real.embed(texts)


@pytest.fixture
def embedder(minilm) -> CountingEmbedder:
    return CountingEmbedder(minilm)


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite")


@pytest.fixture
def collection(tmp_path: Path, minilm):
    return open_store(str(tmp_path / "store")).open_collection("docs", minilm.info)


def by_source(collection) -> dict[str, SourceInfo]:
    return {s.source: s for s in collection.sources()}


def edited(text: str, old: str, new: str) -> str:
    """`text` with the first `old` after its middle replaced (one word for one word)."""
    at = text.index(old, len(text) // 2)
    return text[:at] + new + text[at + len(old):]


# -- same names, different documents ----------------------------------------------------------

def test_same_names_in_subfolders_are_kept_apart(tmp_path, collection, embedder, cache):
    docs = tmp_path / "docs"
    for folder, text in (("projA", "Project A builds a glacier survey drone."),
                         ("projB", "Project B restores a harpsichord for the museum.")):
        (docs / folder).mkdir(parents=True)
        (docs / folder / "README.md").write_text(text)
    (docs / "notes.txt").write_text("Notes on both projects.")
    (docs / "image.png").write_bytes(b"\x89PNG")  # not supported: passed over

    files = local_files([docs])
    assert [f.relative for f in files] == ["notes.txt", "projA/README.md", "projB/README.md"]
    assert [f.source for f in files] == [str(docs / r) for r in ("notes.txt", "projA/README.md", "projB/README.md")]
    report = ingest(files, collection, embedder, SETTINGS, cache=cache)
    assert report.files == 3 and report.chunks_removed == 0
    assert set(by_source(collection)) == {f.source for f in files}
    assert [h.metadata["source"] for h in collection.keyword_search("harpsichord", 5)] == [files[2].source]
    assert [h.metadata["source"] for h in collection.keyword_search("glacier", 5)] == [files[1].source]

    again = ingest(local_files([docs]), collection, embedder, SETTINGS, cache=cache)
    assert (again.chunks_added, again.chunks_removed, again.chunks_skipped) == (0, 0, 3)

    # A file given on its own is the same document as the one found in its folder.
    [alone] = local_files([docs / "notes.txt"])
    assert alone.source == files[0].source


# -- one file, one document; two folders, two sets of documents (issue 20) ---------------------

def two_projects(tmp_path: Path) -> tuple[Path, Path]:
    """projA/ and projB/, each with a README.md and a docs/guide.md of their own."""
    made = []
    for name, topic in (("projA", "a glacier survey drone"), ("projB", "a harpsichord for the museum")):
        folder = tmp_path / name
        (folder / "docs").mkdir(parents=True)
        (folder / "README.md").write_text(f"{name} builds {topic}.")
        (folder / "docs" / "guide.md").write_text(f"The guide of {name} explains {topic} step by step.")
        made.append(folder)
    return made[0], made[1]


def test_two_folders_sharing_file_names_never_replace_each_other(tmp_path, collection, embedder, cache):
    proj_a, proj_b = two_projects(tmp_path)
    first = ingest(local_files([proj_a]), collection, embedder, SETTINGS, cache=cache)
    second = ingest(local_files([proj_b]), collection, embedder, SETTINGS, cache=cache)
    assert (first.chunks_removed, second.chunks_removed, second.gone) == (0, 0, [])
    assert "stale removed" in second.summary() and "0 stale removed" in second.summary()
    held = by_source(collection)
    assert set(held) == {str(p / n) for p in (proj_a, proj_b) for n in ("README.md", "docs/guide.md")}
    assert {h.metadata["source"] for h in collection.keyword_search("glacier", 5)} == \
        {str(proj_a / "README.md"), str(proj_a / "docs/guide.md")}


def test_the_same_file_reached_five_ways_is_one_document(tmp_path, collection, embedder, cache, monkeypatch):
    proj_a, _ = two_projects(tmp_path)
    link = tmp_path / "link-to-projA"
    link.symlink_to(proj_a, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    ways = [["projA"], ["./projA/"], [str(proj_a)], [str(link)], ["projA", "projA/docs", "projA/README.md"]]
    for paths in ways:
        ingest(local_files(paths), collection, embedder, SETTINGS, cache=cache)
    assert sorted(by_source(collection)) == [str(proj_a / "README.md"), str(proj_a / "docs/guide.md")]
    assert collection.count() == 2 and len(embedder.embedded) == 2


def test_a_folder_then_its_subfolder_or_one_file_holds_each_document_once(tmp_path, collection, embedder, cache):
    proj_a, _ = two_projects(tmp_path)
    ingest(local_files([proj_a]), collection, embedder, SETTINGS, cache=cache)
    sub = ingest(local_files([proj_a / "docs"]), collection, embedder, SETTINGS, cache=cache)
    alone = ingest(local_files([proj_a / "README.md"]), collection, embedder, SETTINGS, cache=cache)
    assert (sub.chunks_added, sub.chunks_skipped, alone.chunks_added, alone.chunks_skipped) == (0, 1, 0, 1)
    assert collection.count() == 2 and sorted(collection.get().texts) == sorted(
        p.read_text() for p in (proj_a / "README.md", proj_a / "docs" / "guide.md"))
    # A subfolder's ingest does not take the files of the parent outside it for gone.
    assert sub.gone == [] and alone.gone == []


def test_a_renamed_file_is_reported_gone_and_removed_only_when_asked(tmp_path, collection, embedder, cache):
    proj_a, _ = two_projects(tmp_path)
    ingest(local_files([proj_a]), collection, embedder, SETTINGS, cache=cache)
    (proj_a / "README.md").rename(proj_a / "READ-ME.md")
    kept = ingest(local_files([proj_a]), collection, embedder, SETTINGS, cache=cache)
    assert kept.gone == [str(proj_a / "README.md")] and kept.chunks_removed == 0 and not kept.pruned
    assert "1 file(s) no longer in the folder, still held" in kept.summary() and "README.md" in kept.summary()
    assert str(proj_a) not in kept.summary()  # shown relative to the folder, not as a server path
    assert set(by_source(collection)) == {str(proj_a / n) for n in ("README.md", "READ-ME.md", "docs/guide.md")}
    assert kept.chunks_embedded == 0  # the renamed file's text was embedded before

    pruned = ingest(local_files([proj_a]), collection, embedder, SETTINGS, cache=cache, prune=True)
    assert pruned.gone == [str(proj_a / "README.md")] and pruned.pruned and pruned.chunks_removed == 1
    assert set(by_source(collection)) == {str(proj_a / n) for n in ("READ-ME.md", "docs/guide.md")}


def test_two_uploads_with_one_name_under_one_label_are_refused_naming_both(collection, embedder, cache):
    uploads = [Upload("notes.txt", b"The lighthouse keeper logs every ship.", folder="harbour"),
               Upload("a\\notes.txt", b"The orchard yields pears in September.", folder="harbour/")]
    with pytest.raises(ExplorerError) as refused:
        ingest(uploads, collection, embedder, SETTINGS, cache=cache)
    message = str(refused.value)
    assert "'harbour/notes.txt'" in message and "'notes.txt'" in message and "'a\\notes.txt'" in message
    assert collection.count() == 0 and embedder.embedded == []
    # Under two labels, or one at a time, both are kept.
    ingest([uploads[0], Upload(uploads[1].name, uploads[1].data, folder="orchard")], collection, embedder,
           SETTINGS, cache=cache)
    assert set(by_source(collection)) == {"harbour/notes.txt", "orchard/notes.txt"}


def test_uploads_with_the_same_name_under_two_folder_labels(collection, embedder, cache):
    uploads = [Upload("README.md", b"The lighthouse keeper logs every ship.", folder="harbour"),
               Upload("README.md", b"The orchard yields pears in September.", folder="../farm/ "),
               Upload("README.md", b"No folder label at all.")]
    assert [u.source for u in uploads] == ["harbour/README.md", "farm/README.md", "README.md"]
    ingest(uploads, collection, embedder, SETTINGS, cache=cache)
    assert set(by_source(collection)) == {"harbour/README.md", "farm/README.md", "README.md"}


# -- same content, different documents --------------------------------------------------------

def test_identical_files_are_two_documents_with_their_own_category(tmp_path, collection, embedder, cache):
    report_txt, copy_txt = tmp_path / "report.txt", tmp_path / "report (copy).txt"
    report_txt.write_text(TEXT)
    copy_txt.write_text(TEXT)
    first = ingest([LocalFile(report_txt, "report.txt")], collection, embedder, SETTINGS,
                   LoadOptions(category="q3"), cache=cache)
    embedded_once = len(embedder.embedded)
    assert embedded_once == first.chunks_added > 5

    second = ingest([LocalFile(copy_txt, "report (copy).txt")], collection, embedder, SETTINGS,
                    LoadOptions(category="archive"), cache=cache)
    assert second.chunks_added == first.chunks_added and second.chunks_skipped == 0
    assert len(embedder.embedded) == embedded_once, "identical text is embedded once"
    assert second.chunks_embedded == 0
    assert by_source(collection) == {
        "report.txt": SourceInfo("report.txt", "q3", first.chunks_added),
        "report (copy).txt": SourceInfo("report (copy).txt", "archive", first.chunks_added)}

    # Editing the first touches neither the copy's chunks nor its searchability.
    phrase = "Englishman"
    assert phrase in TEXT[len(TEXT) // 2:]
    report_txt.write_text(edited(TEXT, phrase, "Norseman"))
    third = ingest([LocalFile(report_txt, "report.txt")], collection, embedder, SETTINGS,
                   LoadOptions(category="q3"), cache=cache)
    assert third.chunks_embedded == 1 and third.chunks_removed == first.chunks_added
    copy_rows = collection.get(where=Filter(sources=("report (copy).txt",)))
    assert len(copy_rows.ids) == first.chunks_added and phrase in "".join(copy_rows.texts)
    assert {h.metadata["source"] for h in collection.keyword_search(phrase, 5)} == {"report (copy).txt"}
    assert {h.metadata["source"] for h in collection.keyword_search("Norseman", 5)} == {"report.txt"}


# -- what changed is all that is done ---------------------------------------------------------

def test_new_category_is_applied_without_embedding(collection, embedder, cache):
    upload = Upload("letters.txt", TEXT.encode("utf-8"))
    first = ingest([upload], collection, embedder, SETTINGS, LoadOptions(category="draft"), cache=cache)
    embedded = len(embedder.embedded)
    before = collection.get(include_embeddings=True)

    report = ingest([upload], collection, embedder, SETTINGS, LoadOptions(category="final"), cache=cache)
    assert len(embedder.embedded) == embedded, "a metadata change embeds nothing"
    assert report.chunks_added == report.chunks_removed == first.chunks_added
    assert by_source(collection) == {"letters.txt": SourceInfo("letters.txt", "final", first.chunks_added)}
    after = collection.get(include_embeddings=True)
    assert not set(after.ids) & set(before.ids)
    old_vectors = {t: v for t, v in zip(before.texts, before.embeddings)}
    for text, vector in zip(after.texts, after.embeddings):
        assert (vector == old_vectors[text]).all()
    assert collection.get(where=Filter(categories=("draft",))).ids == []


def test_edited_file_re_embeds_only_its_changed_chunk(collection, embedder, cache):
    first = ingest([Upload("letters.txt", TEXT.encode("utf-8"))], collection, embedder, SETTINGS, cache=cache)
    embedder.embedded.clear()
    new_text = edited(TEXT, "Englishman", "Norseman")
    report = ingest([Upload("letters.txt", new_text.encode("utf-8"))], collection, embedder, SETTINGS,
                    cache=cache)
    assert len(embedder.embedded) == report.chunks_embedded == 1
    assert "Norseman" in embedder.embedded[0]
    assert collection.count() == first.chunks_added == report.chunks_added
    stored = collection.get()
    assert all(new_text[m["start"]:m["end"]] == t for t, m in zip(stored.texts, stored.metadatas))
    assert "with vectors already computed" in report.summary()


def test_csv_rows_are_identified_by_the_id_field(tmp_path, collection, embedder, cache):
    path = tmp_path / "tickets.csv"
    path.write_text("key,body\nT-1,The printer on floor two jams.\nT-2,The badge reader rejects new cards.\n")
    options = LoadOptions(text_field="body", id_field="key")
    ingest([LocalFile(path, "tickets.csv")], collection, embedder, SETTINGS, options, cache=cache)
    assert sorted(m["row"] for m in collection.get().metadatas) == ["T-1", "T-2"]

    path.write_text("key,body\nT-2,The badge reader rejects new cards.\nT-1,The printer on floor two is fixed.\n")
    embedder.embedded.clear()
    report = ingest([LocalFile(path, "tickets.csv")], collection, embedder, SETTINGS, options, cache=cache)
    assert embedder.embedded == ["The printer on floor two is fixed."]
    assert (report.chunks_skipped, report.chunks_removed) == (1, 1)
    assert sorted(collection.get().texts) == ["The badge reader rejects new cards.",
                                              "The printer on floor two is fixed."]

    path.write_text("key,body\n,A ticket without a key.\n")
    with pytest.raises(LoaderError, match="row 1 has no value in the id field 'key'"):
        list(load_path(path, text_field="body", id_field="key"))


def test_a_damaged_or_unwritable_cache_only_costs_embedding(tmp_path, collection, embedder):
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"this is not an SQLite database " * 200)
    blocked = EmbeddingCache(tmp_path / "damaged.sqlite" / "below-a-file.sqlite")  # its folder cannot be made
    for n, cache in enumerate((EmbeddingCache(damaged), blocked)):
        report = ingest([Upload(f"letters-{n}.txt", TEXT.encode("utf-8"))], collection, embedder, SETTINGS,
                        cache=cache)
        assert not report.failures and report.chunks_embedded == report.chunks_added > 5
    assert damaged.read_bytes().startswith(b"this is not an SQLite database")


# -- collections made under the first id scheme -----------------------------------------------

def first_scheme_chunks(upload: Upload, category: str, count_tokens) -> list[Chunk]:
    """Chunks as the first scheme stored them: id = file hash + settings hash + position."""
    settings_hash = hashlib.sha256(SETTINGS.key().encode()).hexdigest()[:8]
    chunks = chunk_documents(load_bytes(upload.name, upload.data, category=category), SETTINGS, count_tokens)
    return [Chunk(id=f"{c.metadata['document'][:16]}-{settings_hash}-{c.index:06d}", text=c.text, source=c.source,
                  start=c.start, end=c.end, index=c.index, metadata=c.metadata) for c in chunks]


@backends("chroma", "pgvector")
def test_first_scheme_collection_is_migrated_without_embedding(store, new_name, embedder, cache, minilm):
    collection = store.open_collection(new_name(store), minilm.info)
    upload = Upload("letters.txt", TEXT.encode("utf-8"))
    old = first_scheme_chunks(upload, "novel", minilm.count_tokens)
    assert all(OLD_CHUNK_ID.match(c.id) for c in old)
    collection.upsert(old, minilm.embed([c.text for c in old]))

    report = ingest([upload], collection, embedder, SETTINGS, LoadOptions(category="novel"), cache=cache)
    assert report.chunks_migrated == len(old) and embedder.embedded == []
    assert (report.chunks_added, report.chunks_skipped, report.chunks_removed) == (0, len(old), 0)
    stored = collection.get()
    assert len(stored.ids) == len(old) and not any(OLD_CHUNK_ID.match(i) for i in stored.ids)
    assert sorted(stored.texts) == sorted(c.text for c in old)
    # The same text under a new source (the path it is known by now) reuses the migrated vectors;
    # "letters.txt", ingested again under its bare name above, is a document of its own now.
    moved = ingest([Upload("letters.txt", upload.data, folder="mail")], collection, embedder, SETTINGS,
                   LoadOptions(category="novel"), cache=cache)
    assert moved.chunks_added == len(old) and embedder.embedded == [] and moved.chunks_removed == 0
    assert {s.source for s in collection.sources()} == {"letters.txt", "mail/letters.txt"}


@backends("chroma", "pgvector")
def test_upgrading_then_re_ingesting_a_folder_does_not_hold_documents_twice(store, new_name, embedder, cache,
                                                                             minilm, tmp_path):
    """The first release knew docs/mail/letters.txt as "letters.txt"; re-ingested after the upgrade it is
    known by its path, and its first-scheme chunks under the bare name go: one copy, nothing embedded."""
    collection = store.open_collection(new_name(store), minilm.info)
    upload = Upload("letters.txt", TEXT.encode("utf-8"))
    old = first_scheme_chunks(upload, "novel", minilm.count_tokens)
    collection.upsert(old, minilm.embed([c.text for c in old]))
    folder = tmp_path / "docs"
    (folder / "mail").mkdir(parents=True)
    (folder / "mail" / "letters.txt").write_bytes(upload.data)
    report = ingest(local_files([folder]), collection, embedder, SETTINGS, LoadOptions(category="novel"),
                    cache=cache)
    assert report.chunks_migrated == len(old) and report.chunks_removed == len(old) and embedder.embedded == []
    assert [(s.source, s.chunks) for s in collection.sources()] == [(str(folder / "mail/letters.txt"), len(old))]


def fill_under_second_scheme(collection, minilm, cache, monkeypatch, files: list[LocalFile]) -> None:
    """Ingest `files` as the second scheme did: "v2" ids, each under the source given (a path relative to
    the folder it was found in, or an absolute path as spelled, symlinks unresolved)."""
    import core.chunking

    with monkeypatch.context() as patched:
        patched.setattr(core.chunking, "ID_SCHEME", "v2")
        ingest(files, collection, minilm, SETTINGS, cache=cache)
    assert all(SECOND_SCHEME_ID.match(i) for i in collection.get().ids)


@backends("chroma", "pgvector")
def test_second_scheme_relative_paths_move_to_absolute_ones_without_embedding(store, new_name, embedder, cache,
                                                                              minilm, tmp_path, monkeypatch):
    """The second scheme ("v2" ids) knew projA/README.md, found by ingesting projA/, as "README.md". The first
    ingest of anything (projB here) moves every chunk to current ids, nothing embedded again, and says
    that projA's files are kept under their relative names; ingesting projA again moves them to their
    absolute paths, their vectors reused. projB/README.md, ingested first, does not take projA's: it never
    held that text."""
    collection = store.open_collection(new_name(store), minilm.info)
    proj_a, proj_b = two_projects(tmp_path)
    fill_under_second_scheme(collection, minilm, cache, monkeypatch, [
        LocalFile(proj_a / "README.md", "README.md"), LocalFile(proj_a / "docs/guide.md", "docs/guide.md")])
    assert sorted(by_source(collection)) == ["README.md", "docs/guide.md"]
    fresh_cache = EmbeddingCache(tmp_path / "another-machine.sqlite")  # vectors come from the collection

    other = ingest(local_files([proj_b]), collection, embedder, SETTINGS, cache=fresh_cache)
    assert other.chunks_migrated == 2 and other.chunks_removed == 0 and len(embedder.embedded) == 2
    assert "2 document(s) an older version knew by a name without its folder" in other.summary()
    assert not any(SECOND_SCHEME_ID.match(i) for i in collection.get().ids)
    assert sorted(by_source(collection)) == sorted(["README.md", "docs/guide.md", str(proj_b / "README.md"),
                                                    str(proj_b / "docs/guide.md")])
    embedder.embedded.clear()
    report = ingest(local_files([proj_a]), collection, embedder, SETTINGS, cache=fresh_cache)
    assert embedder.embedded == [] and report.chunks_migrated == 2 and report.chunks_removed == 0
    assert sorted(by_source(collection)) == sorted(str(p / n) for p in (proj_a, proj_b)
                                                   for n in ("README.md", "docs/guide.md"))
    assert collection.count() == 4


def second_scheme_write(write: str, collection, store, embedder, cache, tmp_path: Path, link: Path) -> None:
    """One first write of each kind into a second-scheme collection."""
    if write == "ingest":
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "plan.md").write_text("A plan for the harbour wall, written in spring.")
        ingest(local_files([tmp_path / "other"]), collection, embedder, SETTINGS, cache=cache)
    elif write == "upload":
        ingest([Upload("memo.txt", b"A memo about the harbour wall.")], collection, embedder, SETTINGS, cache=cache)
    elif write == "delete":  # the document as the list showed it before the move: the path as spelled
        assert delete_document(collection, DocumentKey(str(link / "gone.txt"))) == 1
    elif write == "import":
        np.save(tmp_path / "note.npy", np.full((1, 384), 384 ** -0.5, np.float32))
        (tmp_path / "note.csv").write_text("id,text\nnote-1,An imported note on tides.\n")
        import_vectors(tmp_path / "note.npy", store, collection.name, Fields(id="id"), model="minilm",
                       metadata=tmp_path / "note.csv")
    else:
        repair_collection(store, collection.name)


@pytest.mark.parametrize("write", ["ingest", "upload", "delete", "import", "repair"])
def test_any_first_write_moves_a_second_scheme_collection_to_current_ids(write, tmp_path, minilm, embedder,
                                                                         cache, monkeypatch):
    """Not only re-ingesting its folder: an ingest of other files, an upload, a delete, an import or a repair
    moves the whole collection first. Absolute paths go to their resolved form (a symlinked folder), names
    without a folder are kept and flagged; every text keeps its very vector (nothing embedded again)."""
    from core.identity import RELATIVE_NAME

    real = tmp_path / "real"
    (real / "mail").mkdir(parents=True)
    (real / "mail" / "letters.txt").write_text(TEXT[:1_500])
    (real / "kept.txt").write_text("The lighthouse keeper's log for the winter.")
    (real / "gone.txt").write_text("A note that will be deleted.")
    link = tmp_path / "link"
    link.symlink_to(real)
    store = open_store(str(tmp_path / "store"))
    collection = store.open_collection("docs", minilm.info)
    fill_under_second_scheme(collection, minilm, cache, monkeypatch, [
        LocalFile(real / "mail" / "letters.txt", "mail/letters.txt"),
        LocalFile(link / "kept.txt", str(link / "kept.txt")), LocalFile(link / "gone.txt", str(link / "gone.txt"))])
    before = collection.get(include_embeddings=True)
    vectors = dict(zip(before.texts, before.embeddings))

    second_scheme_write(write, collection, store, embedder, cache, tmp_path, link)
    after = collection.get(include_embeddings=True)
    assert after.ids and not any(SECOND_SCHEME_ID.match(i) for i in after.ids)
    held = {t: (m["source"], v) for t, m, v in zip(after.texts, after.metadatas, after.embeddings)}
    for text, vector in vectors.items():
        if text == "A note that will be deleted." and write == "delete":
            assert text not in held
            continue
        np.testing.assert_array_equal(held[text][1], vector)
    assert held["The lighthouse keeper's log for the winter."][0] == os.path.realpath(real / "kept.txt")
    relative = [m for m in after.metadatas if m["source"] == "mail/letters.txt"]
    assert relative and all(m.get(RELATIVE_NAME) for m in relative)
    assert embedder.embedded == [] or write in ("ingest", "upload") and len(embedder.embedded) == 1
    assert check_collection(collection).problems == ()


def test_an_interrupted_move_is_reported_incomplete_and_the_next_write_finishes_it(tmp_path, minilm, cache,
                                                                                   monkeypatch):
    """Killed between writing a batch's new rows and deleting its old ones: both are held, `check` calls the
    collection incomplete (not healthy with texts twice), and the next write finishes the move."""
    import core.identity
    from core.stores.base import Pending

    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.txt").write_text(f"Note {n} on the tides of the northern harbour.")
    store = open_store(str(tmp_path / "store"))
    collection = store.open_collection("docs", minilm.info)
    fill_under_second_scheme(collection, minilm, cache, monkeypatch, local_files([folder]))
    texts = sorted(collection.get().texts)
    monkeypatch.setattr(core.identity, "MIGRATE_BATCH", 1)
    dead = Pending.mine("move", "of chunks to ids by source")
    monkeypatch.setattr(Pending, "mine", classmethod(lambda cls, what, detail: dead))
    monkeypatch.setattr(type(collection), "delete_ids", lambda self, ids: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        move_to_current_scheme(collection, cache)
    monkeypatch.undo()
    monkeypatch.setattr(Pending, "alive", lambda self: self != dead)  # the interrupted process is gone
    assert collection.count() == 4 and [p.kind for p in check_collection(collection).problems] == ["incomplete"]

    delete_document(collection, DocumentKey(str(folder / "2.txt")))
    assert sorted(collection.get().texts) == texts[:2] and check_collection(collection).problems == ()
    assert not any(SECOND_SCHEME_ID.match(i) for i in collection.get().ids)


# -- things that are not documents ------------------------------------------------------------

def test_fifo_and_device_are_refused_without_opening(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            list(load_path(fifo))
            outcome.append(None)
        except LoaderError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # blocked opening the FIFO: release it, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert isinstance(outcome[0], LoaderError) and "is a FIFO (named pipe), not a file" in str(outcome[0])
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")  # endless, whatever its name says
    for device in ("/dev/zero", zero):
        with pytest.raises(LoaderError, match="is a device, not a file"):
            list(load_path(device))


def test_folders_without_supported_files_are_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExplorerError, match="the folder is empty"):
        local_files([empty])
    (empty / "photo.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ExplorerError, match=r"holds 1 file\(s\), none of a supported type"):
        local_files([empty])


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_refuses_empty_folder_and_fifo_and_leaves_no_collection(tmp_path):
    store = tmp_path / "store"
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("ingest", str(empty), "--store", str(store))
    assert proc.returncode == 1 and "the folder is empty" in proc.stderr and "Traceback" not in proc.stderr
    assert not store.exists()  # refused before anything was made

    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    proc = cli("ingest", str(fifo), str(tmp_path / "missing.txt"), "--store", str(store))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "FIFO" in proc.stderr and "missing.txt: file not found" in proc.stderr
    assert "was not created" in proc.stdout
    assert open_store(str(store)).list_collections() == []


# -- the app sees an edit at once -------------------------------------------------------------

def test_search_page_shows_the_edited_text_after_a_re_ingest(tmp_path, monkeypatch, minilm, cache):
    from app_pages import open_page

    from core.config import SAMPLE_COLLECTION

    store = tmp_path / "app-store"
    collection = open_store(str(store)).open_collection(SAMPLE_COLLECTION, minilm.info)
    first = ingest([Upload("letters.txt", TEXT.encode("utf-8"))], collection, minilm, SETTINGS, cache=cache)
    monkeypatch.setenv("EXPLORER_STORE", str(store))
    at = open_page("views/search.py")
    at.radio(key="mode").set_value("keyword")
    at.text_input(key="query").input("Englishman Norseman").run()
    cards = [h.value for h in at.html if "heading" in h.value]
    assert cards and "Englishman" in cards[0] and not any("Norseman" in c for c in cards)

    # Same file, one word changed: the same number of chunks, so only a real version notices.
    report = ingest([Upload("letters.txt", edited(TEXT, "Englishman", "Norseman").encode("utf-8"))],
                    collection, minilm, SETTINGS, cache=cache)
    assert collection.count() == first.chunks_added == report.chunks_added
    at.run()
    assert not at.exception and not at.error
    cards = [h.value for h in at.html if "heading" in h.value]
    assert cards and "Norseman" in cards[0] and not any("Englishman" in c for c in cards)
