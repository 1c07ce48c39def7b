"""metrics/<stage>.json (the headlines DVC compares) and their details file."""

import json

import pytest

from pipeline.formats.common import FormatError
from pipeline.formats.metrics import (
    HEADLINES,
    Record,
    headline,
    read_details,
    read_metrics,
    write_record,
)


def evaluation() -> Record:
    return Record(
        values={"fid": None, "kid_mean": 0.0123456, "inception_score_mean": float("nan"),
                "detection": {"rate": 0.31640625, "rate_real": 1.0},
                "memorization": {"flagged_any": 3}, "device": "cpu"},
        notes={"fid": "too few samples"},
        conventions={"resize": "PIL Lanczos"},
    )


def test_headlines_are_numbers_rounded_and_what_is_missing_is_left_out():
    assert headline("evaluate", evaluation()) == {"kid": 0.01235, "face_rate": 0.3164,
                                                  "copies": 3}
    assert headline("validate", Record({"photos": 17, "accepted": 10, "rules": {"x": 1}})) == {
        "photos": 17, "accepted": 10}
    assert headline("train", Record({"g_loss": 123456.789, "d_loss": True})) == {
        "g_loss": 123500.0, "d_loss": True}
    with pytest.raises(TypeError, match="is 'high', not a number"):
        headline("train", Record({"g_loss": "high"}))


def test_headline_keys_are_short_and_unique_across_stages():
    """DVC shows every stage's keys as one table, and names a key twice as path:key."""
    keys = [h.key for stage in HEADLINES.values() for h in stage]
    assert len(keys) == len(set(keys))
    assert all(len(k) <= 9 for k in keys)


def test_a_record_round_trips_and_the_metrics_hold_only_the_headlines(tmp_path):
    record = evaluation()
    metrics, details = tmp_path / "metrics" / "evaluate.json", tmp_path / "d" / "evaluate.json"
    write_record("evaluate", record, metrics, details)
    assert read_metrics(metrics, "evaluate") == {"kid": 0.01235, "face_rate": 0.3164,
                                                 "copies": 3}
    back = read_details(details, "evaluate")
    assert back.conventions == record.conventions
    assert back.value("detection.rate") == 0.31640625 and back.value("detection.nope") is None
    # JSON has no NaN: a value that is not a number is written as null, and said so
    assert back.values["inception_score_mean"] is None
    assert back.notes == {**record.notes, "inception_score_mean": "not a finite number (nan)"}
    assert json.loads(details.read_text())["values"]["device"] == "cpu"


def test_reading_says_which_stage_to_run(tmp_path):
    with pytest.raises(FormatError, match="does not exist; run the train stage first"):
        read_metrics(tmp_path / "train.json", "train")
    bad = tmp_path / "bad.json"
    bad.write_text('{"fid": "unavailable"}')
    with pytest.raises(FormatError, match="holds more than numbers; run the evaluate stage"):
        read_metrics(bad, "evaluate")
    bad.write_text('{"values": {}}')
    with pytest.raises(FormatError, match="no values, notes and conventions"):
        read_details(bad, "evaluate")
    bad.write_text("[1, 2]")
    with pytest.raises(FormatError, match="not hold a JSON object"):
        read_details(bad, "evaluate")
    bad.write_text("{")
    with pytest.raises(FormatError, match="cannot be read"):
        read_metrics(bad, "validate")
