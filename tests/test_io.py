import pytest

from pipeline.io import atomic_path


def test_a_file_is_replaced_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    with atomic_path(target) as tmp:
        tmp.write_text("1")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed half-way")
    assert target.read_text() == "1"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_a_folder_replaces_the_previous_folder_whole(tmp_path):
    target = tmp_path / "crops"
    for names in (["a.png", "b.png"], ["c.png"]):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            for name in names:
                (tmp / name).write_text(name)
    assert sorted(p.name for p in target.iterdir()) == ["c.png"]  # nothing left of the first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops"]  # no temporary folders


def test_a_failed_folder_leaves_the_previous_one(tmp_path):
    target = tmp_path / "crops"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a.png").write_text("a")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.mkdir()
        raise RuntimeError("killed half-way")
    assert sorted(p.name for p in target.iterdir()) == ["a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops"]
