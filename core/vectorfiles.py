"""Vectors made elsewhere, in and out: Parquet/Arrow, `.npy` + metadata, TensorFlow Projector TSV.

Analysts who check how their embeddings cluster usually have the vectors
already, from a notebook or another tool. `read_vector_file` streams such a file
as batches of rows (Parquet by row groups with pyarrow, `.npy` memory-mapped,
TSV line by line), so a 1M x 384 file never sits in memory as Python objects;
`import_vectors` writes the batches into a collection that records where its
vectors came from. `export_vectors` writes a collection back out in the same
formats, page by page, so it moves to and from those tools.

Formats, by file name:
- `.parquet`, `.arrow`/`.feather` (Arrow IPC): one row per vector; the vector
  column is a list or fixed-size list of numbers; other scalar columns become
  metadata.
- `.npy`: an (n, dim) array; ids, text and metadata come from `--metadata`, a
  CSV or JSONL file with one row per vector (optional).
- `.tsv`: TensorFlow Projector's vectors file (tab-separated numbers, one
  vector a line, no header); `--metadata` names its metadata.tsv (one column:
  no header; several: a header row), as the Projector documents it.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

import numpy as np

from .embedders import imported_embedder
from .errors import ExplorerError
from .identity import move_to_current_scheme
from .loaders import local_source
from .stores.base import Collection, Store, check_collection_name, operation
from .types import Chunk, EmbedderInfo, Metadata, ProgressCallback, ProgressEvent, no_progress

Format = Literal["parquet", "arrow", "npy", "projector"]
FORMATS: dict[str, Format] = {".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
                              ".npy": "npy", ".tsv": "projector"}
BATCH_ROWS = 10_000  # rows per batch: ~15 MB of 384-d float32 vectors plus their metadata
VECTOR_FIELDS = ("embedding", "embeddings", "vector", "vectors", "emb")


class VectorFileError(ExplorerError):
    """A vector file cannot be read as asked; names the file and what is wrong."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Fields:
    """Which columns hold what; None = guess (vector: a list column; text: 'text'; id: the row number)."""

    vector: str | None = None
    text: str | None = None
    id: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class VectorRows:
    """One batch: row-aligned ids, texts, metadata and an (n, dim) float32 block."""

    ids: list[str]
    texts: list[str]
    metadatas: list[Metadata]
    vectors: np.ndarray


@dataclass
class VectorFile:
    """An opened vector file: its shape and a one-pass stream of batches."""

    path: Path
    format: Format
    dimension: int
    rows: int | None  # None when only a full read would tell (TSV)
    batches: Iterator[VectorRows] = field(repr=False)


def file_format(path: Path) -> Format:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise VectorFileError(path, f"unknown vector file type '{path.suffix}'; use one of "
                                    f"{', '.join(sorted(FORMATS))}") from None


def _scalar(value: Any) -> str | int | float | bool | None:
    """A metadata value every store can keep, or None to leave it out."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (str, bytes)):
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return json.dumps(value, default=str, ensure_ascii=False)  # nested values as JSON text


class _RowBuilder:
    """Turns source rows (dicts of column -> value) into ids, texts and metadata the same way for every format."""

    def __init__(self, path: Path, fields: Fields, source: str):
        self.path, self.fields, self.source = path, fields, source
        self._seen: set[str] = set()

    def row(self, number: int, values: dict[str, Any]) -> tuple[str, str, Metadata]:
        f = self.fields
        row_id = self._id(number, values[f.id]) if f.id else f"{self.path.stem}-{number}"
        if row_id in self._seen:
            raise VectorFileError(self.path, f"id '{row_id}' appears twice (row {number + 1}); ids must be unique")
        self._seen.add(row_id)
        text_field = f.text if f.text else ("text" if "text" in values else None)
        text = "" if text_field is None or values.get(text_field) is None else str(values[text_field])
        metadata: Metadata = {}
        for key, value in values.items():
            if key in (f.vector, text_field) or not key:
                continue
            scalar = _scalar(value)
            if scalar is not None:
                metadata[key] = scalar
        metadata.setdefault("source", self.source)
        metadata["row"] = row_id
        if f.category:
            metadata["category"] = "" if values.get(f.category) is None else str(values[f.category])
        return row_id, text, metadata

    def _id(self, number: int, value: Any) -> str:
        """A row's id from its id field; an empty one is refused (it would become the id "None" or "nan")."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)) or str(value).strip() == "":
            raise VectorFileError(self.path, f"row {number + 1} has no id (the id field '{self.fields.id}' is empty); "
                                             "every row needs one")
        return str(value)

    def batch(self, start: int, rows: list[dict[str, Any]], vectors: np.ndarray) -> VectorRows:
        built = [self.row(start + i, values) for i, values in enumerate(rows)]
        checked = _finite(self.path, start, np.asarray(vectors, dtype=np.float32))
        return VectorRows([b[0] for b in built], [b[1] for b in built], [b[2] for b in built], checked)


def _finite(path: Path, start: int, vectors: np.ndarray) -> np.ndarray:
    """Vectors every search can rank: finite numbers, not all zero (a zero vector has no direction,
    so its cosine with anything is undefined: refused here rather than stored and never found)."""
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise VectorFileError(path, f"row {start + int(np.argmax(bad)) + 1} has a NaN or infinite value")
    zero = ~vectors.any(axis=1)
    if zero.any():
        raise VectorFileError(path, f"row {start + int(np.argmax(zero)) + 1} is a zero vector (all 0): it has no "
                                    "direction, so no similarity can be computed for it; drop the row or fix it")
    return vectors


def _require(path: Path, names: Iterable[str], fields: Fields, where: str) -> None:
    names = set(names)
    for label, name in (("id", fields.id), ("text", fields.text), ("category", fields.category)):
        if name and name not in names:
            raise VectorFileError(path, f"no {label} field '{name}' in {where}; it has: {', '.join(sorted(names))}")


# -- Parquet / Arrow ---------------------------------------------------------------------------
def _arrow_vector_field(path: Path, schema: Any, wanted: str | None) -> tuple[str, int]:
    import pyarrow as pa

    def is_vector(t: Any) -> bool:
        return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and \
            (pa.types.is_floating(t.value_type) or pa.types.is_integer(t.value_type))

    candidates = [f.name for f in schema if is_vector(f.type)]
    if wanted is None:
        named = [n for n in candidates if n.lower() in VECTOR_FIELDS]
        if len(named) != 1 and len(candidates) != 1:
            raise VectorFileError(path, "cannot tell which column holds the vectors; name it with --vector-field "
                                        f"(list columns: {', '.join(candidates) or 'none'})")
        wanted = named[0] if len(named) == 1 else candidates[0]
    if wanted not in schema.names:
        raise VectorFileError(path, f"no column '{wanted}'; it has: {', '.join(schema.names)}")
    if wanted not in candidates:
        raise VectorFileError(path, f"column '{wanted}' is not a list of numbers")
    kind = schema.field(wanted).type
    return wanted, kind.list_size if pa.types.is_fixed_size_list(kind) else 0


def _arrow_vectors(path: Path, column: Any, start: int) -> np.ndarray:
    import pyarrow as pa

    if column.null_count:
        raise VectorFileError(path, f"a row between {start + 1} and {start + len(column)} has no vector")
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if pa.types.is_fixed_size_list(column.type):
        return values.reshape(len(column), column.type.list_size)
    lengths = np.diff(column.offsets.to_numpy())
    if len(lengths) and (lengths != lengths[0]).any():
        row = start + int(np.argmax(lengths != lengths[0])) + 1
        raise VectorFileError(path, f"row {row} has {lengths[np.argmax(lengths != lengths[0])]} numbers, "
                                    f"the rows before it {lengths[0]}: every vector must have the same length")
    return values.reshape(len(column), int(lengths[0]) if len(lengths) else 0)


def _open_arrow(path: Path, fmt: Format, fields: Fields, batch_rows: int, source: str) -> VectorFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            # pre_buffer (pyarrow's default) keeps every row group read so far in memory until the
            # file is closed: a 1M x 384 file grew to 1.6 GB of Arrow memory. Without it, one row group.
            parquet = pq.ParquetFile(path, pre_buffer=False)
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
            batches = parquet.iter_batches(batch_size=batch_rows)
        elif _is_ipc_file(path):
            reader = pa.ipc.open_file(path)
            schema, rows = reader.schema, reader.count_rows()
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:  # the Arrow streaming format: the row count is known only at the end
            reader = pa.ipc.open_stream(path)
            schema, rows, batches = reader.schema, None, iter(reader)
    except (pa.ArrowException, OSError) as exc:
        raise VectorFileError(path, f"not a readable {fmt} file ({exc})") from exc
    vector_field, dimension = _arrow_vector_field(path, schema, fields.vector)
    fields = Fields(vector_field, fields.text, fields.id, fields.category)
    _require(path, schema.names, fields, "the file")
    builder = _RowBuilder(path, fields, source)
    first: list[Any] = []
    if not dimension:  # a plain list column: the first row tells the length
        iterator = iter(batches)
        first = [b for b in islice(iterator, 1) if b.num_rows]
        if first:
            dimension = _arrow_vectors(path, first[0].column(vector_field), 0).shape[1]
        batches = chain(first, iterator)

    def stream() -> Iterator[VectorRows]:
        start = 0
        for record in batches:
            for lo in range(0, record.num_rows, batch_rows):  # Arrow IPC batches may be larger than ours
                part = record.slice(lo, batch_rows)
                vectors = _arrow_vectors(path, part.column(vector_field), start)
                if vectors.shape[1] != dimension:
                    raise VectorFileError(path, f"rows from {start + 1} have {vectors.shape[1]} numbers, "
                                                f"earlier rows {dimension}")
                others = part.drop_columns([vector_field]).to_pylist()
                yield builder.batch(start, others, vectors)
                start += part.num_rows
    return VectorFile(path, fmt, dimension, rows, stream())


def _is_ipc_file(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(6) == b"ARROW1"


# -- .npy + metadata --------------------------------------------------------------------------
def _metadata_rows(path: Path, delimiter: str | None = None, header: bool = True) -> Iterator[dict[str, Any]]:
    """CSV/TSV (with a header unless told otherwise) or JSONL rows as dicts, streamed."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
                for number, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise VectorFileError(path, f"line {number} is not JSON ({exc.msg})") from exc
                        if not isinstance(row, dict):
                            raise VectorFileError(path, f"line {number} is not a JSON object")
                        yield row
                return
            sep = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
            # A row's whole text often sits in one cell: far more than csv's 128 KB default, as core.loaders allows.
            csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
            try:
                if header:
                    yield from csv.DictReader(fh, delimiter=sep)
                else:
                    for values in csv.reader(fh, delimiter=sep):
                        yield {"label": values[0] if values else ""}
            except csv.Error as exc:  # e.g. a NUL byte, or a quote left open to the end
                raise VectorFileError(path, f"is not readable as {'TSV' if sep == chr(9) else 'CSV'} "
                                            f"({exc})") from None
    except FileNotFoundError:
        raise VectorFileError(path, "no such metadata file") from None
    except UnicodeDecodeError as exc:
        raise VectorFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None


def _open_npy(path: Path, fields: Fields, metadata: Path | None, batch_rows: int, source: str) -> VectorFile:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise VectorFileError(path, f"not a readable .npy array ({exc})") from exc
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise VectorFileError(path, f"expected a 2-D numeric array (rows x dimensions), got shape {array.shape} "
                                    f"of {array.dtype}")
    if array.shape[0] and not array.shape[1]:
        raise VectorFileError(path, f"has shape {array.shape}: {array.shape[0]} vectors of 0 numbers each")
    rows_meta = _metadata_rows(metadata) if metadata else None
    builder = _RowBuilder(path, fields, source)

    def stream() -> Iterator[VectorRows]:
        for start in range(0, array.shape[0], batch_rows):
            block = np.asarray(array[start:start + batch_rows], dtype=np.float32)
            meta = list(islice(rows_meta, len(block))) if rows_meta else [{} for _ in range(len(block))]
            if len(meta) < len(block):
                raise VectorFileError(metadata or path, f"has {start + len(meta)} rows for {array.shape[0]} vectors")
            if start == 0 and meta and rows_meta is not None:
                _require(metadata or path, meta[0].keys(), fields, "the metadata")
            yield builder.batch(start, meta, block)
        if rows_meta is not None and next(rows_meta, None) is not None:
            raise VectorFileError(metadata or path, f"has more rows than the {array.shape[0]} vectors")
    return VectorFile(path, "npy", int(array.shape[1]), int(array.shape[0]), stream())


# -- TensorFlow Projector TSV ------------------------------------------------------------------
def _projector_metadata(path: Path) -> Iterator[dict[str, Any]]:
    """metadata.tsv as the Projector reads it: one column has no header; several have one."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = fh.readline()
    except UnicodeDecodeError as exc:
        raise VectorFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    return _metadata_rows(path, "\t", header="\t" in first.rstrip("\n"))


def _open_projector(path: Path, fields: Fields, metadata: Path | None, batch_rows: int, source: str) -> VectorFile:
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise VectorFileError(path, f"cannot read it ({exc})") from exc
    dimension = len(first.rstrip("\n").split("\t")) if first.strip() else 0
    if not dimension:
        raise VectorFileError(path, "is empty: expected one tab-separated vector per line")
    rows_meta = _projector_metadata(metadata) if metadata else None
    builder = _RowBuilder(path, fields, source)

    def parse(lines: list[str], start: int) -> np.ndarray:
        try:
            block = np.array([[float(v) for v in line.rstrip("\n").split("\t")] for line in lines], dtype=np.float32)
        except ValueError:
            for offset, line in enumerate(lines):
                if len(line.rstrip("\n").split("\t")) != dimension:
                    break
            raise VectorFileError(path, f"line {start + offset + 1} is not {dimension} tab-separated numbers") \
                from None
        if block.ndim != 2 or block.shape[1] != dimension:
            raise VectorFileError(path, f"a line between {start + 1} and {start + len(lines)} does not have "
                                        f"{dimension} numbers")
        return block

    def stream() -> Iterator[VectorRows]:
        with path.open(encoding="utf-8") as fh:
            lines_iter = (line for line in fh if line.strip())
            start = 0
            while lines := list(islice(lines_iter, batch_rows)):
                block = parse(lines, start)
                meta = list(islice(rows_meta, len(block))) if rows_meta else [{} for _ in lines]
                if len(meta) < len(block):
                    raise VectorFileError(metadata or path, "has fewer rows than the vectors file")
                if start == 0 and rows_meta is not None:
                    _require(metadata or path, meta[0].keys(), fields, "the metadata")
                yield builder.batch(start, meta, block)
                start += len(lines)
        if rows_meta is not None and next(rows_meta, None) is not None:
            raise VectorFileError(metadata or path, "has more rows than the vectors file")
    return VectorFile(path, "projector", dimension, None, stream())


def _check_metadata_file(path: Path) -> None:
    """Before it is opened: a FIFO would block the open itself, a folder fails it."""
    if not path.exists():
        raise VectorFileError(path, "no such metadata file")
    if path.is_dir():
        raise VectorFileError(path, "is a folder, not a metadata file")
    if not path.is_file():
        raise VectorFileError(path, "is not a regular file (a FIFO, socket or device); give a CSV, JSONL or TSV file")


def open_vector_file(path: Path | str, fields: Fields = Fields(), metadata: Path | str | None = None,
                     batch_rows: int = BATCH_ROWS, source: str | None = None) -> VectorFile:
    """Open a vector file for one streamed pass; errors about its shape surface here or while streaming.
    Its rows' source (unless a column gives one) is `source`, else the file's resolved path, as an ingested
    file's is: two files called vectors.parquet in two folders are two sources."""
    path = Path(path)
    if not path.is_file():
        raise VectorFileError(path, "no such file" if not path.exists() else "not a regular file")
    meta = Path(metadata) if metadata else None
    if meta is not None:
        _check_metadata_file(meta)
    fmt = file_format(path)
    if fmt in ("parquet", "arrow"):
        if meta:
            raise VectorFileError(path, "a Parquet/Arrow file carries its own metadata; drop --metadata")
        return _open_arrow(path, fmt, fields, batch_rows, source or local_source(path))
    if fmt == "npy":
        return _open_npy(path, fields, meta, batch_rows, source or local_source(path))
    return _open_projector(path, fields, meta, batch_rows, source or local_source(path))


# -- into and out of a collection --------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    collection: str
    rows: int
    dimension: int
    embedder: str

    def summary(self) -> str:
        return (f"imported {self.rows:,} vectors ({self.dimension} dimensions) into '{self.collection}', "
                f"model {self.embedder}")


def import_vectors(path: Path | str, store: Store, collection: str, fields: Fields = Fields(),
                   metadata: Path | str | None = None, model: str | None = None,
                   progress: ProgressCallback = no_progress, batch_rows: int = BATCH_ROWS,
                   source_name: str | None = None) -> ImportReport:
    """Write a vector file's rows into `collection` (created if missing), one batch at a time.

    Ids come from `fields.id` (or the row number), so importing the same file again replaces
    rows rather than adding them. The file is read through once before the first write, so a bad
    row anywhere changes nothing. A new collection whose import fails is removed again; an existing
    one stopped half way (a kill, a store error) keeps an "import" mark that `check` reports as
    incomplete, until importing the same file again completes it. Rows are known by the file's resolved
    path (`source_name`: an upload's name) and their ids: rows of another file that the ids would replace (two
    files called vectors.npy, numbered alike) are refused before anything is written.
    """
    check_collection_name(collection)
    source = open_vector_file(path, fields, metadata, batch_rows, source_name)
    info = imported_embedder(model, source.dimension)
    existed = collection in {c.name for c in store.list_collections()}
    held = store.open_collection(collection, info, create=False) if existed else None
    rows = _validated(open_vector_file(path, fields, metadata, batch_rows, source_name), progress, held)
    target: Collection = held or store.open_collection(collection, info, create=True)
    move_to_current_scheme(target)  # a collection of an earlier id scheme, before its first write
    done = 0
    try:
        with operation(target, "import", str(source.path)), target.bulk_write(rows):
            for batch in source.batches:
                target.upsert([Chunk(id=i, text=t, source=str(m["source"]), start=0, end=len(t), index=done + n,
                                     metadata=m)
                               for n, (i, t, m) in enumerate(zip(batch.ids, batch.texts, batch.metadatas))],
                              batch.vectors)
                done += len(batch.ids)
                progress(ProgressEvent("importing", done, rows, source.path.name))
            target.sync_keyword_index()
    except BaseException:
        if not existed:  # half a file in a new collection is worth less than a clean retry
            store.delete_collection(collection)
        raise
    return ImportReport(collection, done, source.dimension, info.name)


def _validated(source: VectorFile, progress: ProgressCallback, held: Collection | None = None) -> int:
    """Read the whole file once before anything is written, so that a bad row anywhere (a NaN at row
    15,001, a missing id, a short metadata file, an id another file's row holds in `held`) leaves the
    collection exactly as it was; returns the rows. Costs one extra read of the file, and of those ids."""
    rows = 0
    for batch in source.batches:
        if held is not None:
            _refuse_taken_ids(source.path, batch, held)
        rows += len(batch.ids)
        progress(ProgressEvent("checking", rows, source.rows, source.path.name))
    if rows == 0:
        raise VectorFileError(source.path, "holds no vectors")
    return rows


def _refuse_taken_ids(path: Path, batch: VectorRows, held: Collection) -> None:
    """Refuse ids that rows of another source hold: importing would replace them. A row an earlier version
    imported under the bare file name is this file's own (ids are only unique within a source)."""
    mine = {i: str(m.get("source", "")) for i, m in zip(batch.ids, batch.metadatas)}
    stored = held.get(ids=batch.ids)
    for chunk_id, metadata in zip(stored.ids, stored.metadatas):
        theirs = str((metadata or {}).get("source", ""))
        if theirs not in (mine[chunk_id], Path(mine[chunk_id]).name):
            raise VectorFileError(path, f"row id '{chunk_id}' is held already by a row of another file "
                                        f"('{Path(theirs).name}'); importing would replace it: give the rows ids "
                                        "of their own (an id column, --id-field) or import into another collection")


ExportFormat = Literal["parquet", "npy", "projector"]


def export_vectors(collection: Collection, path: Path | str, fmt: ExportFormat | None = None,
                   progress: ProgressCallback = no_progress) -> list[Path]:
    """Write a collection's ids, texts, metadata and vectors; returns the files written.

    parquet: one file (id, text, every metadata key as a column, embedding as a fixed-size list);
    npy: PATH.npy plus PATH.jsonl (id, text, metadata per line); projector: PATH (vectors.tsv) plus
    a metadata TSV beside it (id, text, source, category), ready for projector.tensorflow.org.
    """
    path = Path(path)
    fmt = fmt or {"parquet": "parquet", "npy": "npy", "projector": "projector"}.get(file_format(path), None)
    if fmt is None:
        raise VectorFileError(path, "export writes .parquet, .npy or .tsv")
    if path.is_dir() or not path.parent.is_dir():
        raise VectorFileError(path, "is a folder" if path.is_dir() else f"folder {path.parent} does not exist")
    total = collection.count()
    pages = collection.iter_pages(include_embeddings=True)
    if fmt == "parquet":
        written = _export_parquet(collection, path, pages, total, progress)
    elif fmt == "npy":
        written = _export_npy(collection, path, pages, total, progress)
    else:
        written = _export_projector(path, pages, total, progress)
    return written


def _export_parquet(collection: Collection, path: Path, pages: Iterator[Any], total: int,
                    progress: ProgressCallback) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dimension = collection.embedder.dimension
    writer = None
    done = 0
    try:
        for page in pages:
            keys = sorted({k for m in page.metadatas for k in m} - {"id", "text", "embedding"})
            columns = {"id": page.ids, "text": page.texts}
            columns.update({k: [None if m.get(k) is None else str(m[k]) for m in page.metadatas] for k in keys})
            flat = pa.array(np.ascontiguousarray(page.embeddings, dtype=np.float32).ravel())
            table = pa.table(columns).append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, dimension))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            elif table.schema != writer.schema:  # a page with other metadata keys: align to the first page's
                table = table.select([n for n in writer.schema.names if n in table.schema.names])
                for missing in (n for n in writer.schema.names if n not in table.schema.names):
                    table = table.append_column(missing, pa.nulls(table.num_rows, pa.string()))
                table = table.select(writer.schema.names).cast(writer.schema)
            writer.write_table(table)
            done += len(page.ids)
            progress(ProgressEvent("exporting", done, total, path.name))
    finally:
        if writer is not None:
            writer.close()
    return [path]


def _export_npy(collection: Collection, path: Path, pages: Iterator[Any], total: int,
                progress: ProgressCallback) -> list[Path]:
    from numpy.lib.format import open_memmap

    rows_path = path.with_suffix(".jsonl")
    vectors = open_memmap(path, mode="w+", dtype=np.float32, shape=(total, collection.embedder.dimension))
    done = 0
    with rows_path.open("w", encoding="utf-8") as out:
        for page in pages:
            end = min(done + len(page.ids), total)  # rows added since count() wait for the next export
            vectors[done:end] = page.embeddings[:end - done]
            for i, t, m in islice(zip(page.ids, page.texts, page.metadatas), end - done):
                out.write(json.dumps({"id": i, "text": t, **m}, ensure_ascii=False) + "\n")
            done = end
            progress(ProgressEvent("exporting", done, total, path.name))
    vectors.flush()
    del vectors
    return [path, rows_path]


def _tsv_cell(value: Any) -> str:
    """The Projector splits on tabs and lines: keep each cell on one line."""
    return " ".join(str(value).split())


def _export_projector(path: Path, pages: Iterator[Any], total: int, progress: ProgressCallback) -> list[Path]:
    meta_path = path.with_name(path.stem + "_metadata.tsv")
    done = 0
    with path.open("w", encoding="utf-8") as vectors, meta_path.open("w", encoding="utf-8") as meta:
        meta.write("id\ttext\tsource\tcategory\n")
        for page in pages:
            for i, t, m, v in zip(page.ids, page.texts, page.metadatas, page.embeddings):
                vectors.write("\t".join(f"{x:.6g}" for x in v) + "\n")
                meta.write("\t".join(_tsv_cell(c) for c in (i, t[:500], m.get("source", ""), m.get("category", "")))
                           + "\n")
            done += len(page.ids)
            progress(ProgressEvent("exporting", done, total, path.name))
    return [path, meta_path]


def import_vector_bytes(name: str, data: bytes, store: Store, collection: str, fields: Fields = Fields(),
                        metadata: tuple[str, bytes] | None = None, model: str | None = None,
                        progress: ProgressCallback = no_progress) -> ImportReport:
    """`import_vectors` for files handed over as bytes (a browser upload): written to a private
    temporary folder under their base names, imported, removed."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="explorer-import-") as folder:
        path = Path(folder) / (Path(name).name or "vectors")
        path.write_bytes(data)
        meta_path = None
        if metadata is not None:
            meta_path = Path(folder) / ("metadata-" + (Path(metadata[0]).name or "rows.csv"))
            meta_path.write_bytes(metadata[1])
        return import_vectors(path, store, collection, fields, meta_path, model, progress, source_name=path.name)


def export_bytes(collection: Collection, fmt: ExportFormat) -> tuple[str, bytes]:
    """`export_vectors` as one downloadable file: (file name, bytes); several files come zipped."""
    import tempfile
    import zipfile

    suffix = {"parquet": ".parquet", "npy": ".npy", "projector": ".tsv"}[fmt]
    with tempfile.TemporaryDirectory(prefix="explorer-export-") as folder:
        written = export_vectors(collection, Path(folder) / f"{collection.name}{suffix}", fmt)
        if len(written) == 1:
            return written[0].name, written[0].read_bytes()
        archive = Path(folder) / f"{collection.name}-{fmt}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in written:
                zipped.write(path, path.name)
        return archive.name, archive.read_bytes()
