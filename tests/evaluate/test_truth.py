"""Loading and checking ground truth: good files load, bad ones name the file and the line."""

from __future__ import annotations

import pytest

from detector.errors import InputError
from detector.evaluate.truth import BENIGN, UNSPECIFIED_KIND, TruthError, load_truth, truth_frame


def write(tmp_path, text: str, name: str = "truth.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_attack_flags(tmp_path):
    path = write(
        tmp_path,
        "account_id,label,kind\nacc-1,benign,casual\nacc-2,camp-7,hydra\nacc-3,camp-7,hydra\n",
    )
    truth = load_truth(path)
    assert truth.height == 3
    rows = {r["account_id"]: r for r in truth.iter_rows(named=True)}
    assert rows["acc-1"]["is_attack"] is False
    assert rows["acc-2"]["is_attack"] is True
    assert rows["acc-2"]["label"] == "camp-7"
    assert rows["acc-3"]["kind"] == "hydra"


def test_columns_may_come_in_any_order_and_extra_columns_are_ignored(tmp_path):
    path = write(
        tmp_path, "kind,note,account_id,label\nhydra,x,acc-2,camp-1\ncasual,y,acc-1,benign\n"
    )
    truth = load_truth(path).sort("account_id")
    assert truth["account_id"].to_list() == ["acc-1", "acc-2"]
    assert truth["label"].to_list() == [BENIGN, "camp-1"]
    assert truth["kind"].to_list() == ["casual", "hydra"]


def test_benign_in_any_case_and_padding_is_benign(tmp_path):
    path = write(tmp_path, "account_id,label,kind\n acc-1 , Benign ,casual\nacc-2,BENIGN,\n")
    truth = load_truth(path).sort("account_id")
    assert truth["account_id"].to_list() == ["acc-1", "acc-2"]
    assert truth["label"].to_list() == [BENIGN, BENIGN]
    assert not truth["is_attack"].any()
    assert truth["kind"].to_list() == ["casual", UNSPECIFIED_KIND]


def test_exact_duplicates_collapse_and_blank_lines_are_skipped(tmp_path):
    path = write(tmp_path, "account_id,label,kind\nacc-1,c1,hydra\n\nacc-1,c1,hydra\n")
    assert load_truth(path).height == 1


def test_missing_file_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match=r"absent\.csv"):
        load_truth(tmp_path / "absent.csv")


def test_wrong_header_names_line_1(tmp_path):
    path = write(tmp_path, "account,label\nacc-1,benign\n")
    with pytest.raises(TruthError, match=r"truth\.csv:1: .*lacks account_id, kind"):
        load_truth(path)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(TruthError, match=r"truth\.csv:1: empty file"):
        load_truth(write(tmp_path, ""))


def test_header_only_has_no_rows(tmp_path):
    with pytest.raises(TruthError, match="no truth rows"):
        load_truth(write(tmp_path, "account_id,label,kind\n"))


def test_empty_label_names_its_line(tmp_path):
    path = write(tmp_path, "account_id,label,kind\nacc-1,benign,casual\nacc-2,,hydra\n")
    with pytest.raises(TruthError, match=r"truth\.csv:3: label is empty for account 'acc-2'"):
        load_truth(path)


def test_short_row_names_its_line(tmp_path):
    path = write(
        tmp_path, "account_id,label,kind\nacc-1,benign,casual\nacc-2,benign,casual\nacc-3\n"
    )
    with pytest.raises(TruthError, match=r"truth\.csv:4: expected 3 fields"):
        load_truth(path)


def test_conflicting_labels_name_both_lines(tmp_path):
    path = write(tmp_path, "account_id,label,kind\nacc-1,benign,casual\nacc-1,camp-2,hydra\n")
    with pytest.raises(TruthError, match=r"truth\.csv:3: .*benign/casual on line 2"):
        load_truth(path)


def test_all_problems_are_reported_together(tmp_path):
    path = write(tmp_path, "account_id,label,kind\n,benign,casual\nacc-2,,x\nacc-3,benign,casual\n")
    with pytest.raises(TruthError) as caught:
        load_truth(path)
    message = str(caught.value)
    assert "truth.csv:2: account_id is empty" in message
    assert "truth.csv:3: label is empty" in message


def test_invalid_utf8_is_a_truth_error(tmp_path):
    path = tmp_path / "truth.csv"
    path.write_bytes(b"account_id,label,kind\nacc-\xff,benign,casual\n")
    with pytest.raises(TruthError, match="not valid UTF-8"):
        load_truth(path)


def test_truth_frame_from_rows_serves_other_sources():
    # e.g. a peer dataset's per-request labels reduced to (account_id, label, kind) rows
    rows = [
        ("sk-1", "campaign_0001", "campaign"),
        ("sk-2", "benign", "peer_benign"),
        ("sk-1", "campaign_0001", "campaign"),
    ]
    truth = truth_frame(rows, source="labeled_5k.jsonl").sort("account_id")
    assert truth["account_id"].to_list() == ["sk-1", "sk-2"]
    assert truth["is_attack"].to_list() == [True, False]


def test_truth_frame_rejects_conflicts_naming_the_source():
    rows = [("sk-1", "campaign_0001", "campaign"), ("sk-1", "benign", "campaign")]
    with pytest.raises(TruthError, match=r"peer:2: account 'sk-1'"):
        truth_frame(rows, source="peer")
