import subprocess
import sys

import pytest

from pipeline.io import atomic_path, remove_leftovers, worker_count


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


def test_leftovers_of_a_killed_writer_are_removed(tmp_path):
    """A process that dies inside the block (no clean-up runs) leaves its temporary beside the
    finished output; remove_leftovers clears it and nothing else."""
    (tmp_path / "checkpoint.pt").write_text("finished")
    (tmp_path / "crops").mkdir()
    (tmp_path / "checkpoint.pt.tmp-1").write_text("not a leftover: another name")
    for target, half_write in (("checkpoint.pt", "tmp.write_text('half')"),
                               ("crops", "tmp.mkdir(); (tmp / 'a.png').write_text('a')")):
        code = (f"import os; from pipeline.io import atomic_path\n"
                f"with atomic_path({str(tmp_path / target)!r}) as tmp:\n"
                f"    {half_write}; os._exit(9)")
        assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert len(list(tmp_path.iterdir())) == 5
    remove_leftovers(tmp_path / "checkpoint.pt")
    remove_leftovers(tmp_path / "crops")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt", "checkpoint.pt.tmp-1", "crops"]
    assert (tmp_path / "checkpoint.pt").read_text() == "finished"


def test_worker_count_takes_a_number_or_uses_the_cores():
    assert worker_count(3) == 3
    assert worker_count() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        worker_count(0)
