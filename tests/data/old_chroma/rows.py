"""Step 1 of making the old-chromadb fixture (step 2: make.py): real text and its real MiniLM vectors.

Run with this project's venv, from the repository root:

    PYTHONPATH=. /work/main/.venv/bin/python tests/data/old_chroma/rows.py /tmp/old-chroma-rows.json

60 paragraphs spread evenly over each of two public-domain novels in ../shared/corpora/long_docs
(SOURCE.md beside this file), each cut at a sentence end within 700 characters, embedded by our
`minilm` (all-MiniLM-L6-v2, the model chromadb's default embedding function runs).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from core.embedders import get_embedder

LONG_DOCS = Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "long_docs"
BOOKS = {  # file -> (category, author, title)
    "pg84_frankenstein.txt": ("gothic", "Mary Shelley", "Frankenstein"),
    "pg1342_pride_and_prejudice.txt": ("manners", "Jane Austen", "Pride and Prejudice"),
}
PER_BOOK = 60
MAX_CHARS = 700
HEADING = re.compile(r"^(letter|chapter)\s+[0-9ivxlc]+\.?$", re.IGNORECASE)


def paragraphs(text: str) -> list[tuple[str, str]]:
    """(chapter heading, paragraph) for the body of a Project Gutenberg text, paragraphs of 300+ characters."""
    body = text.split("*** START OF THE PROJECT GUTENBERG", 1)[1].split("*** END OF THE PROJECT GUTENBERG", 1)[0]
    chapter, found = "front matter", []
    for block in re.split(r"\n\s*\n", body):
        line = " ".join(block.split())
        if HEADING.match(line):
            word, number = line.rstrip(".").split()
            chapter = f"{word.title()} {number.upper()}"
        elif len(line) >= 300:
            found.append((chapter, line))
    return found


def cut(paragraph: str) -> str:
    if len(paragraph) <= MAX_CHARS:
        return paragraph
    head = paragraph[:MAX_CHARS]
    end = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    return head[:end + 1] if end > 0 else head


def main(out: Path) -> None:
    ids, texts, metadatas = [], [], []
    for file, (category, author, title) in BOOKS.items():
        found = paragraphs((LONG_DOCS / file).read_text(encoding="utf-8"))
        step = len(found) / PER_BOOK
        for n in range(PER_BOOK):
            at = int(n * step)
            chapter, paragraph = found[at]
            ids.append(f"{file.split('_')[0]}-{at:04d}")
            texts.append(cut(paragraph))
            metadatas.append({"source": file, "category": category, "author": author, "title": title,
                              "chapter": chapter, "paragraph": at})
    vectors = get_embedder("minilm").embed(texts)
    out.write_text(json.dumps({"ids": ids, "texts": texts, "metadatas": metadatas,
                               "minilm": [[float(x) for x in v] for v in vectors]}))
    print(f"{len(ids)} rows, {vectors.shape[1]} dimensions -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
