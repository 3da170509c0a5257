"""The SRRG annotation loader on fixtures in the SRRG schema (tests/data/srrg) and the phantom's SRRG file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cogaze.data.srrg import choose_image, read_srrg_json, srrg_item_json
from cogaze.data.structured import SRRG_HEADERS, parse_structured
from cogaze.errors import DataError, Problems
from cogaze.models.tokenizer import context_string

DATA = Path(__file__).parent / "data" / "srrg"


def test_valid_fixture_items_roots_views_and_context() -> None:
    items = read_srrg_json(DATA / "valid.json", mimic_root="/mimic", chexpert_root="/chexpert")
    assert {k: len(v) for k, v in items.items()} == {"train": 2, "val": 1, "test": 1}  # 'validate' -> val
    mimic, chexpert = items["train"]
    # a PA exists: it is chosen over the lateral listed first; MIMIC ids resolve under the MIMIC root
    assert mimic.view == "PA" and mimic.image_path == Path("/mimic") / mimic.image_paths[1]
    assert mimic.source == "mimic" and mimic.subject_id == "10000032"
    assert mimic.findings == ("Lungs and Airways:\n- The lungs are clear.\n- No pneumothorax.\n\n"
                              "Cardiovascular:\n- Normal heart size.")
    assert mimic.context == "[CLS] ___-year-old female with chest pain."
    # a CheXpert-Plus id resolves under the CheXpert root and has no MIMIC subject: its id stands in
    assert chexpert.source == "chexpert" and chexpert.image_path == Path("/chexpert/train/patient64541/study1/view1_frontal.jpg")
    assert chexpert.subject_id == chexpert.id and chexpert.view == "AP"
    # newline-stripped findings ("Header:- item- item") are restored; null view -> UNKNOWN; null history -> absent
    (val,) = items["val"]
    assert parse_structured(val.findings).sections == {
        "Lungs and Airways": ["- Low lung volumes.", "- Bibasilar atelectasis."],
        "Other": ["- No acute osseous abnormality."]}
    assert val.view == "UNKNOWN" and val.history == "" and val.context == "[PAD]"
    # two APs and no PA: one of the APs, the same one every time for the same seed
    (test,) = items["test"]
    assert test.view == "AP" and test.history == ""  # whitespace-only history = no context
    again = read_srrg_json(DATA / "valid.json", splits=["test"])["test"][0]
    assert test.image_path.name in ("1.jpg", "3.jpg") and again.image_path.name == test.image_path.name


def test_choose_image_rule() -> None:
    rng = random.Random(0)
    assert choose_image(["LATERAL", "AP", "PA"], rng) == 2
    assert choose_image(["LATERAL", "AP"], rng) == 1
    assert choose_image(["LATERAL"], rng) == 0
    picks = {choose_image(["PA", "LATERAL", "PA"], random.Random(s)) for s in range(20)}
    assert picks == {0, 2}  # random among the PAs, never the lateral


def test_missing_keys_names_file_and_item() -> None:
    with pytest.raises(DataError) as err:
        read_srrg_json(DATA / "missing_keys.json")
    msg = str(err.value)
    assert "missing_keys.json" in msg and "train[1]" in msg and "mimic-50000002" in msg
    assert "view_positions" in msg and "history_section" in msg
    problems = Problems("skip")
    items = read_srrg_json(DATA / "missing_keys.json", problems=problems)
    assert [it.id for it in items["train"]] == ["mimic-50000001"] and problems.n_skipped == 1


def test_unknown_header_names_item_and_header() -> None:
    with pytest.raises(DataError) as err:
        read_srrg_json(DATA / "unknown_header.json")
    msg = str(err.value)
    assert "unknown_header.json" in msg and "test[0]" in msg and "mimic-50000003" in msg and "'Heart:'" in msg
    problems = Problems("skip")
    assert [it.id for it in read_srrg_json(DATA / "unknown_header.json", problems=problems)["test"]] == ["mimic-50000004"]


def test_empty_history_is_no_context() -> None:
    items = read_srrg_json(DATA / "empty_history.json")["train"]
    assert [it.history for it in items] == ["", "", "Shortness of breath."]
    assert [it.context for it in items] == ["[PAD]", "[PAD]", "[CLS] Shortness of breath."]
    # the encoder's srrg context format gives the same strings (history only, no role tags)
    assert [context_string("an indication", it.history, "srrg")[0] for it in items] == [it.context for it in items]
    assert context_string("", "", "srrg") == ("[PAD]", False)
    assert context_string("ind", "", "mimic") == ("[CLS] [INDICATION] ind [SEP] [HISTORY] ", True)


@pytest.mark.parametrize("bad, message", [
    ({"train": {"id": "x"}}, "must be a list"),
    ({"other": []}, "no split found"),
    ({"train": [{"id": "a", "image_paths": ["x.jpg"], "view_positions": ["PA", "AP"],
                 "findings_section": "Pleura:\n- x", "history_section": None}]}, "1 image_paths but 2 view_positions"),
    ({"train": [{"id": "a", "image_paths": [], "view_positions": [],
                 "findings_section": "Pleura:\n- x", "history_section": None}]}, "non-empty list"),
    ({"train": [{"id": "a", "image_paths": ["x.jpg"], "view_positions": ["PA"],
                 "findings_section": "Pleura:\n- x", "history_section": 3}]}, "string or null"),
    ({"train": [{"id": "a", "image_paths": ["x.jpg"], "view_positions": ["PA"],
                 "findings_section": "  ", "history_section": None}]}, "non-empty string"),
    ({"train": [{"id": "a", "image_paths": ["x.jpg"], "view_positions": ["PA"],
                 "findings_section": "The lungs are clear.", "history_section": None}]}, "neither a header nor a bullet"),
    ({"train": [{"id": "a", "image_paths": ["x.jpg"], "view_positions": ["PA"],
                 "findings_section": "Pleura:\n- x", "history_section": None}] * 2}, "duplicate id"),
])
def test_bad_items(tmp_path, bad, message) -> None:
    path = tmp_path / "srrg.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=message):
        read_srrg_json(path)


def test_missing_split_and_malformed_json(tmp_path) -> None:
    with pytest.raises(DataError, match="split.*val.*not in the file"):
        read_srrg_json(DATA / "unknown_header.json", splits=["val"], on_error="skip")
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": [')
    with pytest.raises(DataError, match="malformed JSON"):
        read_srrg_json(bad)


def test_phantom_writes_a_valid_srrg_file(tmp_path) -> None:
    from cogaze.data.phantom import generate_phantom

    generate_phantom(tmp_path / "ph", n_patients=6, seed=3, image_size=64, gaze_fraction=0.0)
    path = tmp_path / "ph" / "srrg" / "srrg_findings.json"
    items = read_srrg_json(path, mimic_root=tmp_path / "ph")
    all_items = [it for v in items.values() for it in v]
    assert len(all_items) >= 6 and all(it.image_path.is_file() for it in all_items)
    assert all(it.view in ("PA", "AP") for it in all_items)  # every phantom study has a frontal view
    raw = json.loads(path.read_text())
    # the JSON round-trips through the loader unchanged (canonical layout, null for absent history)
    assert [srrg_item_json(it) for it in items["train"]] == raw["train"]
    for it in all_items:
        parsed = parse_structured(it.findings)
        assert not parsed.problems and list(parsed.sections) == [h for h in SRRG_HEADERS if h in parsed.sections]
