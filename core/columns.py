"""Columns of a map's points, kept as Arrow arrays: Python objects are made only for the rows read.

A million chunks as Python lists cost seconds to build every time a server process first shows the
map (parsing the cached rows took 7 s of a 21 s first view). Kept as Arrow arrays, read from a
memory-mapped file, they cost nothing until a row is asked for: a click reads one text, a lasso's
table a few hundred, and passes that need every row (distinct categories, a filter) run in Arrow's
compute kernels instead of over a million dicts.
"""
from __future__ import annotations

import json
from typing import Any, Iterator, Sequence, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BLOCK = 65_536  # rows turned into Python objects at a time when a caller walks a whole column


class StringColumn(Sequence[str]):
    """A column of strings, read in place."""

    def __init__(self, array: pa.Array | pa.ChunkedArray) -> None:
        self.array = array
        self._distinct: list[str] | None = None

    @classmethod
    def of(cls, values: Sequence[str]) -> StringColumn:
        return cls(pa.array(list(values), type=pa.large_string()))

    def __len__(self) -> int:
        return len(self.array)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self.array.slice(start, max(stop - start, 0)).to_pylist()
            return self.take(range(start, stop, step))
        n = len(self.array)
        if not -n <= index < n:
            raise IndexError(index)
        return self.array[index % n].as_py()

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self.array), BLOCK):
            yield from self.array.slice(start, BLOCK).to_pylist()

    def take(self, rows: Sequence[int]) -> list[str]:
        """The values of these rows, in their order (one Arrow call, not one per row)."""
        return self.array.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()

    def distinct(self) -> list[str]:
        """The column's distinct non-empty values, sorted (worked out once: a column does not change)."""
        if self._distinct is None:
            self._distinct = sorted(v for v in pc.unique(self.array).to_pylist() if v)
        return list(self._distinct)

    def isin(self, values: Sequence[str]) -> np.ndarray:
        """Which rows hold one of `values` (a boolean mask)."""
        mask = pc.is_in(self.array, value_set=pa.array(list(values), type=self.array.type))
        return mask.to_numpy(zero_copy_only=False).astype(bool)


def take(values: Sequence[str], rows: Sequence[int]) -> list[str]:
    """`[values[i] for i in rows]`, in one Arrow call when `values` is a column."""
    return values.take(rows) if isinstance(values, StringColumn) else [values[i] for i in rows]


class JsonColumn(Sequence[dict[str, Any]]):
    """A column of JSON objects (chunk metadata), each parsed when read."""

    def __init__(self, strings: StringColumn) -> None:
        self.strings = strings

    @classmethod
    def of(cls, values: Sequence[dict[str, Any]]) -> JsonColumn:
        return cls(StringColumn.of([json.dumps(v, ensure_ascii=False) for v in values]))

    def __len__(self) -> int:
        return len(self.strings)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [json.loads(s) for s in self.strings[index]]
        return json.loads(self.strings[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (json.loads(s) for s in self.strings)
