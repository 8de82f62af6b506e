"""Discovery: files, folders, globs, manifests, sidecars, missing paths."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lvas.discover import discover


def _touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\0")
    return p


def test_folder_is_recursive_and_sorted(tmp_path: Path) -> None:
    _touch(tmp_path / "b" / "2.mp4")
    _touch(tmp_path / "a" / "1.MOV")
    _touch(tmp_path / "a" / "notes.txt")
    found = discover([str(tmp_path)])
    assert [Path(v.path).name for v in found.videos] == ["1.MOV", "2.mp4"]
    assert found.problems == []


def test_glob_manifest_and_duplicates(tmp_path: Path) -> None:
    a = _touch(tmp_path / "v" / "a.mp4")
    b = _touch(tmp_path / "v" / "b.mp4")
    (tmp_path / "list.csv").write_text("path,captions\nv/b.mp4,caps/b.json\nv/c.mp4,\n")
    pq.write_table(pa.table({"path": [str(a)]}), tmp_path / "list.parquet")
    found = discover([str(tmp_path / "v" / "*.mp4"), str(tmp_path / "list.csv"), str(tmp_path / "list.parquet")])
    names = [Path(v.path).name for v in found.videos]
    assert names == ["a.mp4", "b.mp4", "c.mp4"]  # b and a once each; c missing but kept
    assert found.videos[1].captions_path is None  # b came first from the glob, without captions
    assert str(b) == found.videos[1].path


def test_missing_file_is_kept_and_empty_sources_are_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text("file\nx.mp4\n")
    found = discover([str(tmp_path / "gone.mp4"), str(tmp_path / "empty"), str(tmp_path / "*.mkv"),
                      str(tmp_path / "bad.csv")])
    assert [Path(v.path).name for v in found.videos] == ["gone.mp4"]
    assert len(found.problems) == 3
    assert any("no 'path' column" in p for p in found.problems)


def test_sidecar_beside_video(tmp_path: Path) -> None:
    v = _touch(tmp_path / "clip.mp4")
    (tmp_path / "clip.captions.json").write_text("{}")
    (ref,) = discover([str(v)]).videos
    assert ref.captions_path == str(tmp_path / "clip.captions.json")


def test_one_file_named_two_ways_is_one_video(tmp_path: Path) -> None:
    a = _touch(tmp_path / "dir" / "a.mp4")
    (tmp_path / "other").mkdir()
    (tmp_path / "link.mp4").symlink_to(a)
    found = discover([str(a), str(tmp_path / "other" / ".." / "dir" / "a.mp4"), str(tmp_path / "link.mp4")])
    assert [v.path for v in found.videos] == [str(a)]


def test_recursive_glob_does_not_follow_a_symlink_loop(tmp_path: Path) -> None:
    _touch(tmp_path / "v" / "a.mp4")
    _touch(tmp_path / "v" / "sub" / "b.mp4")
    (tmp_path / "v" / "sub" / "up").symlink_to(tmp_path / "v")  # a loop back to the top
    (tmp_path / "v" / "self").symlink_to(tmp_path / "v" / "self")  # a link to itself
    found = discover([str(tmp_path / "v" / "**" / "*.mp4")])
    assert [Path(v.path).relative_to(tmp_path).as_posix() for v in found.videos] == ["v/a.mp4", "v/sub/b.mp4"]
    assert found.problems == []
