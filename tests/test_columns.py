"""Columns read in place (core.columns): they behave as the lists they replace."""
from __future__ import annotations

import pytest

from core.columns import JsonColumn, StringColumn, take

VALUES = ["b", "", "a", "b", "é ü", "c"]


def test_a_string_column_reads_as_its_list():
    column = StringColumn.of(VALUES)
    assert len(column) == len(VALUES) and list(column) == VALUES
    assert [column[i] for i in range(-len(VALUES), len(VALUES))] == VALUES + VALUES
    for part in (slice(1, 4), slice(None, None, 2), slice(4, 1, -1), slice(10, 20)):
        assert column[part] == VALUES[part]
    with pytest.raises(IndexError):
        column[len(VALUES)]
    assert column.take([5, 0, 0]) == ["c", "b", "b"] == take(column, [5, 0, 0]) and take(VALUES, [2]) == ["a"]
    assert column.distinct() == ["a", "b", "c", "é ü"]
    assert column.isin(["b", "c"]).tolist() == [True, False, False, True, False, True]
    assert "a" in column and "z" not in column and column.index("c") == 5


def test_a_json_column_parses_each_row_when_read():
    rows = [{"source": "x.txt", "n": 1}, {}, {"nested": {"k": [1, 2]}, "text": "ü"}]
    column = JsonColumn.of(rows)
    assert len(column) == 3 and list(column) == rows and column[2] == rows[2] and column[:2] == rows[:2]
