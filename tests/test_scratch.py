"""Scratch folders within a size (core/scratch.py): the entries used longest ago go first, the one in use stays."""
from __future__ import annotations

import os

from core.scratch import folder_bytes, prune, session_folder, touch


def entry(root, name: str, size: int, used: float):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "data.bin").write_bytes(b"x" * size)
    for path in (folder / "data.bin", folder):
        os.utime(path, (used, used))
    return folder


def test_prune_removes_the_least_recently_used_until_within_the_bound(tmp_path):
    old, middle, new = (entry(tmp_path, n, 1000, t) for n, t in (("old", 1e9), ("middle", 2e9), ("new", 3e9)))
    assert prune(tmp_path, 5000) == [] and folder_bytes(tmp_path) == 3000
    assert prune(tmp_path, 2000) == [old]
    assert not old.exists() and middle.exists() and new.exists()
    assert prune(tmp_path, 0, keep=middle) == [new]  # the folder in use stays, whatever its size
    assert middle.exists() and prune(tmp_path, None) == []


def test_a_touched_folder_counts_as_just_used(tmp_path):
    first, second = entry(tmp_path, "first", 1000, 1.0e9), entry(tmp_path, "second", 1000, 1.5e9)
    touch(first)
    assert prune(tmp_path, 1000) == [second]


def test_each_session_has_its_own_folder_named_by_a_hash(tmp_path):
    one, two = session_folder(tmp_path, "session-a"), session_folder(tmp_path, "session-b")
    assert one != two and one.parent == two.parent == tmp_path / "sessions"
    assert "session-a" not in str(one) and session_folder(tmp_path, "session-a") == one
