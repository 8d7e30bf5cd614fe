"""``ab --metric instructions`` reads each side's counted run as every command reads a result file: a bad
count stops the comparison with the side, the case and the field named, instead of leaving the case out."""

import json
import sys

import pytest

from lowrank.runner import ab
from tests import recorded

CASE = "apply-torch-cpu"


def side(label="head"):
    return ab.Side(label, "HEAD", sys.executable, "h" * 40)


def test_a_good_counted_run_is_read_whole(tmp_path):
    path = tmp_path / "head-counted.json"
    path.write_text(json.dumps(recorded.run("counts-aa", 2)))
    doc = ab.read_counted(side(), path)
    assert doc == recorded.run("counts-aa", 2)


@pytest.mark.parametrize("value, shown", [(None, "null"), (-5, "-5"), ("12", '"12"'), (float("nan"), "NaN")])
def test_a_bad_count_of_either_side_is_named(tmp_path, value, shown):
    doc = recorded.run("counts-aa", 2)
    (bench,) = [b for b in doc["benchmarks"] if b["param"] == CASE]
    bench["extra_info"]["instructions"] = value
    path = tmp_path / "base-counted.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ab.AbError) as info:
        ab.read_counted(side("base"), path)
    message = str(info.value)
    assert message.startswith("the base side (HEAD (hhhhhhhhhhhh)) wrote a counted run that cannot be judged: ")
    assert f"[{CASE}]" in message and f"instructions = {shown}" in message and "\n" not in message
