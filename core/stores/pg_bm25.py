"""BM25 inside PostgreSQL: term statistics kept with the rows, scored in one SQL statement.

Each collection table has a postings table beside it: one row per (term, chunk)
with the term's frequency in the chunk and the chunk's length in terms (kept on
the posting so scoring never reads the chunk table unless a filter needs it).
The registry row of the collection holds the collection's number of chunks N
and their total length (so avgdl = total / N), and names the analyzer the
postings were made with. A term's document frequency is the number of its
postings, counted while scoring from the very rows the score sums over, so it
can never drift from them.

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


def create_postings(table: str) -> list[sql.Composed]:
    """Statements creating a collection's postings table and its indexes (if missing).

    The primary key (term, id) carries tf and dl, so scoring reads the postings of
    the query's terms from the index alone; the index on id finds a chunk's
    postings when it is replaced or deleted.
    """
    postings = postings_table(table)
    return [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (term text NOT NULL, id text NOT NULL, tf int NOT NULL, "
                "dl int NOT NULL, PRIMARY KEY (term, id) INCLUDE (tf, dl))").format(postings),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (id)").format(sql.Identifier(f"{table}_bm25id"), postings),
    ]


def score_statement(table: str, registry: sql.Identifier, condition: sql.Composable,
                    filtered: bool) -> sql.Composed:
    """The k best chunks by BM25 for %(terms)s, among those `condition` allows, in one statement.

    Parameters: name (the collection), terms (the query's terms, repeats kept),
    k1, b, k, and the filter's own. `df` is counted over all postings of a term
    before the filter applies, so idf is the collection's.
    """
    chunks = sql.Identifier(table)
    filter_join = (sql.SQL("JOIN {chunks} c ON c.id = m.id WHERE {condition}").format(chunks=chunks,
                                                                                         condition=condition)
                   if filtered else sql.SQL(""))
    return sql.SQL(
        "WITH query_terms AS ("
        "  SELECT term, count(*) AS qtf FROM unnest(%(terms)s::text[]) AS term GROUP BY term),"
        " stats AS ("
        "  SELECT keyword_chunks::float8 AS n, keyword_length::float8 / greatest(keyword_chunks, 1) AS avgdl"
        "  FROM {registry} WHERE name = %(name)s),"
        " matches AS ("
        "  SELECT p.id, p.tf, p.dl, q.qtf, count(*) OVER (PARTITION BY p.term) AS df"
        "  FROM {postings} p JOIN query_terms q ON q.term = p.term),"
        " scored AS ("
        "  SELECT m.id, sum(m.qtf * ln(1 + (s.n - m.df + 0.5) / (m.df + 0.5))"
        "   * m.tf / (m.tf + %(k1)s * (1 - %(b)s + %(b)s * m.dl / s.avgdl))) AS score"
        "  FROM matches m CROSS JOIN stats s {filter_join}"
        "  GROUP BY m.id ORDER BY score DESC, m.id LIMIT %(k)s)"
        " SELECT c.id, c.text, c.metadata, s.score FROM scored s JOIN {chunks} c ON c.id = s.id"
        " ORDER BY s.score DESC, s.id"
    ).format(registry=registry, postings=postings_table(table), chunks=chunks, filter_join=filter_join)

