"""The one atomic writer: whole files or none, a replacement only where asked."""

import stat

import pytest

from lowrank.record.atomic import write_atomic, write_text_atomic


def test_a_file_is_replaced_whole_and_shared(tmp_path):
    target = tmp_path / "sub" / "run.json"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]  # no temporary left


def test_a_new_file_never_replaces_one(tmp_path):
    target = tmp_path / "run.json"
    write_text_atomic(target, "first", replace=False)
    with pytest.raises(FileExistsError):
        write_text_atomic(target, "second", replace=False)
    assert target.read_text() == "first" and len(list(tmp_path.iterdir())) == 1


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "ops.npz"
    write_text_atomic(target, "old")

    def half(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half)
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1
