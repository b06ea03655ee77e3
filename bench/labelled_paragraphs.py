"""A labelled text set built from the public-domain samples already in data/samples (no download):
paragraphs of the two novels and the CommonMark spec, each labelled by its book ("source", 3 labels)
or by its book's part ("part", 14 labels: the volumes of each novel, Walton's letters, the spec's
top-level sections), the harder task. Used by bench/bench_labels.py."""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.samples import samples  # noqa: E402

MIN_CHARS, MAX_CHARS = 150, 1000
ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def roman(text: str) -> int:
    values = [ROMAN[c] for c in text]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def pride_part(chapter: int) -> str:
    return "pride-vol1" if chapter <= 23 else "pride-vol2" if chapter <= 42 else "pride-vol3"


def frankenstein_part(chapter: int) -> str:
    return ("frankenstein-letters" if chapter == 0 else "frankenstein-vol1" if chapter <= 8
            else "frankenstein-vol2" if chapter <= 17 else "frankenstein-vol3")


def paragraphs() -> tuple[list[str], list[str], list[str]]:
    """(texts, book labels, part labels), in file order."""
    texts, books, parts = [], [], []
    for sample in samples():
        part = None
        in_example = False
        for block in re.split(r"\n\s*\n", sample.body()):
            first = block.strip().splitlines()[0] if block.strip() else ""
            if sample.path.name.startswith("pg1342"):
                heading = re.match(r"^(?:CHAPTER|Chapter) ([IVXLC]+)\.", first)
                if heading:
                    part = pride_part(roman(heading.group(1)))
            elif sample.path.name.startswith("pg84"):
                if re.match(r"^Letter \d+", first):
                    part = frankenstein_part(0)
                heading = re.match(r"^Chapter (\d+)", first)
                if heading:
                    part = frankenstein_part(int(heading.group(1)))
            else:
                for line in block.splitlines():
                    if line.startswith("`" * 32):  # the spec's example fences
                        in_example = not in_example
                    elif not in_example and re.match(r"^# [A-Z][a-z]", line):
                        part = "spec-" + line[2:].split(":")[0].strip().lower().replace(" ", "-")
            text = " ".join(block.split())
            if part and len(text) >= MIN_CHARS:
                texts.append(text[:MAX_CHARS])
                books.append(sample.category)
                parts.append(part)
    return texts, books, parts


if __name__ == "__main__":
    from collections import Counter

    texts, books, parts = paragraphs()
    print(len(texts), Counter(books), Counter(parts))
