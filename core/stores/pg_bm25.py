"""BM25 inside PostgreSQL: term statistics kept with the rows, scored in one SQL statement.

Each collection table has a postings table beside it: one row per (term, chunk)
with the term's frequency in the chunk and the chunk's length in terms (kept on
the posting so scoring never reads the chunk table unless a filter needs it),
and a document-frequency table (term -> number of chunks holding it). The
registry row of the collection holds the collection's number of chunks N and
their total length (so avgdl = total / N), and names the analyzer the postings
were made with. All of it changes in the transaction of the write that changes
the rows, under the lock every writer of the collection takes first.

Terms come from `core.keyword.Analyzer` in Python (the Chroma stores' analyzer:
same words, stop words and Snowball stems), and the score is bm25s's "lucene"
variant exactly, so both stores rank alike:

    score(d, q) = sum over query terms t (repeats counted) of
                  ln(1 + (N - df + 0.5) / (df + 0.5)) * tf / (tf + k1 * (1 - b + b * dl / avgdl))

N and avgdl count every chunk, also those without any term, as bm25s does. A
filter restricts which chunks are ranked, not the statistics: idf stays the
collection's, as on the Chroma stores (bm25s's weight mask).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from psycopg import sql

from ..keyword import Analyzer, BM25Settings

# Columns of a postings table, in COPY order, with their types for binary COPY.
POSTING_COLUMNS = ("term", "id", "tf", "dl")
POSTING_TYPES = ["text", "text", "int4", "int4"]


def analyzer_key(settings: BM25Settings) -> str:
    """What the postings depend on: a collection analysed otherwise is re-analysed (k1 and b are query-time)."""
    return f"stopwords={settings.stopwords};stem={settings.stem}"


@dataclass(frozen=True)
class ChunkTerms:
    """One chunk's postings: (term, tf) pairs and its length in terms."""

    id: str
    counts: Counter[str]

    @property
    def length(self) -> int:
        return sum(self.counts.values())

    def rows(self) -> Iterable[tuple[str, str, int, int]]:
        length = self.length
        return ((term, self.id, tf, length) for term, tf in self.counts.items())


def chunk_terms(analyzer: Analyzer, ids: Sequence[str], texts: Sequence[str]) -> list[ChunkTerms]:
    return [ChunkTerms(i, Counter(analyzer.terms(text))) for i, text in zip(ids, texts)]


def postings_table(table: str) -> sql.Identifier:
    return sql.Identifier(f"{table}_bm25")


def frequencies_table(table: str) -> sql.Identifier:
    return sql.Identifier(f"{table}_bm25df")


def create_postings(table: str) -> list[sql.Composed]:
    """Statements creating a collection's postings and document-frequency tables (if missing).

    The primary key (term, id) carries tf and dl, so scoring reads the postings of
    the query's terms from the index alone; the index on id finds a chunk's
    postings when it is replaced or deleted.
    """
    postings = postings_table(table)
    return [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (term text NOT NULL, id text NOT NULL, tf int NOT NULL, "
                "dl int NOT NULL, PRIMARY KEY (term, id) INCLUDE (tf, dl))").format(postings),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (id)").format(sql.Identifier(f"{table}_bm25id"), postings),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (term text PRIMARY KEY, df int NOT NULL)").format(
            frequencies_table(table)),
    ]


def count_frequencies(table: str) -> sql.Composed:
    """Add the postings of chunks %s (ids) to the document frequencies."""
    return sql.SQL("INSERT INTO {df} AS f (term, df) SELECT term, count(*) FROM {postings} WHERE id = ANY(%s) "
                   "GROUP BY term ORDER BY term ON CONFLICT (term) DO UPDATE SET df = f.df + EXCLUDED.df").format(
        df=frequencies_table(table), postings=postings_table(table))


def forget_postings(table: str) -> sql.Composed:
    """Delete the postings of chunks %s (ids) and their document frequencies; returns their total length."""
    return sql.SQL(
        "WITH gone AS (DELETE FROM {postings} WHERE id = ANY(%s) RETURNING term, tf),"
        " per_term AS (SELECT term, count(*) AS n FROM gone GROUP BY term),"
        " counted AS (UPDATE {df} f SET df = f.df - per_term.n FROM per_term WHERE f.term = per_term.term)"
        " SELECT coalesce(sum(tf), 0) FROM gone").format(postings=postings_table(table), df=frequencies_table(table))


def score_statement(table: str, registry: sql.Identifier, condition: sql.Composable,
                    filtered: bool) -> sql.Composed:
    """The k best chunks by BM25 for %(terms)s, among those `condition` allows, in one statement.

    Parameters: name (the collection), terms (the query's terms, repeats kept),
    k1, b, k, and the filter's own. Each query term's weight (qtf * idf) is
    computed once from the collection's statistics (a filter leaves idf as it
    is); then the postings of those terms are summed per chunk. All arithmetic is float8.
    """
    chunks, postings = sql.Identifier(table), postings_table(table)
    filter_join = (sql.SQL("JOIN {chunks} c ON c.id = p.id WHERE {condition}").format(chunks=chunks,
                                                                                         condition=condition)
                   if filtered else sql.SQL(""))
    return sql.SQL(
        "WITH stats AS ("
        "  SELECT keyword_chunks::float8 AS n,"
        "   keyword_length::float8 / greatest(keyword_chunks, 1) AS avgdl FROM {registry} WHERE name = %(name)s),"
        " query_terms AS ("
        "  SELECT q.term, q.qtf * ln(1 + (s.n - d.df + 0.5) / (d.df + 0.5)) AS weight,"
        "   %(k1)s::float8 * (1 - %(b)s::float8) AS norm_fixed,"
        "   %(k1)s::float8 * %(b)s::float8 / s.avgdl AS norm_per_term"
        "  FROM (SELECT term, count(*)::float8 AS qtf FROM unnest(%(terms)s::text[]) AS term GROUP BY term) AS q"
        "  JOIN {df} d ON d.term = q.term CROSS JOIN stats s WHERE d.df > 0),"
        " scored AS ("
        "  SELECT p.id, sum(q.weight * p.tf / (p.tf + q.norm_fixed + q.norm_per_term * p.dl)) AS score"
        "  FROM query_terms q JOIN {postings} p ON p.term = q.term {filter_join}"
        "  GROUP BY p.id ORDER BY score DESC, p.id LIMIT %(k)s)"
        " SELECT c.id, c.text, c.metadata, s.score FROM scored s JOIN {chunks} c ON c.id = s.id"
        " ORDER BY s.score DESC, s.id"
    ).format(registry=registry, postings=postings, df=frequencies_table(table), chunks=chunks,
             filter_join=filter_join)
