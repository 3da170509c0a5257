"""Structured findings text: StructEval's parsing rules, newline restoration, canonical layout round trip."""

from __future__ import annotations

import random

import numpy as np

from cogaze.data.structured import (
    SRRG_HEADERS,
    flatten_structured,
    format_structured,
    parse_structured,
    restore_newlines,
)

FLAT = ("Lungs and Airways:- Interval improvement in aeration of the left lung- Persistent left lower lobe "
        "atelectasisPleura:- Small left pleural effusionTubes, Catheters, and Support Devices:- Right PICC "
        "line terminating in the SVC- Median sternotomy wires unchangedMusculoskeletal and Chest Wall:- "
        "No significant findingsAbdominal:- Not applicable.Other:")


def test_restore_newlines_of_the_released_csv_layout() -> None:
    assert restore_newlines(FLAT) == (
        "Lungs and Airways:\n- Interval improvement in aeration of the left lung\n- Persistent left lower lobe "
        "atelectasis\n\nPleura:\n- Small left pleural effusion\n\nTubes, Catheters, and Support Devices:\n- Right "
        "PICC line terminating in the SVC\n- Median sternotomy wires unchanged\n\nMusculoskeletal and Chest Wall:\n"
        "- No significant findings\n\nAbdominal:\n- Not applicable.\n\nOther:")
    # a header inside a bullet ("- Other: none") and a spaced dash stay inside their bullet
    text = "Pleura:- No effusion.- Other: none.- Heart size - normal."
    assert restore_newlines(text) == "Pleura:\n- No effusion.\n- Other: none.\n- Heart size - normal."
    assert restore_newlines("Pleura:\n- x") == "Pleura:\n- x"  # text with newlines is left alone


def test_parse_follows_structeval_rules() -> None:
    text = ("- stray bullet before any header\n"
            "Lungs and Airways:\n- Clear.\n\n"
            "Heart:\n- Normal size.\n- Another line of the unknown section.\n"
            "Pleura:\n- No effusion.\n"
            "free text line\n- dropped with its section\n"
            "Cardiovascular:\n\n"
            "Pleura:\n- Repeated header, last kept.\n"
            "- Other:\n- inside Other.")
    parsed = parse_structured(text)
    # an unknown line discards the section open before it too (StructEval saves a section only when the
    # next known header starts), so "Lungs and Airways" and the first "Pleura" are lost
    assert parsed.sections == {"Pleura": ["- Repeated header, last kept."], "Other": ["- inside Other."]}
    kinds = " | ".join(parsed.problems)
    assert "bullet outside any known section" in kinds and "unknown header 'Heart:'" in kinds
    assert "neither a header nor a bullet" in kinds and "'Cardiovascular' has no bullet" in kinds
    repeated = parse_structured("Pleura:\n- first\nLungs and Airways:\n- x\nPleura:\n- second")
    assert repeated.sections == {"Pleura": ["- second"], "Lungs and Airways": ["- x"]}  # last kept, first position
    assert "repeated" in repeated.problems[0]
    assert parsed.bullets("Pleura") == ["Repeated header, last kept."] and parsed.bullets("Lungs and Airways") == []
    assert parse_structured("-No space bullet stays:\nPleura:\n-x").bullets("Pleura") == ["-x"]  # only '- ' is removed
    # lower-casing: headers compared lower-cased too
    low = parse_structured("LUNGS AND AIRWAYS:\n- Clear.", lower=True)
    assert low.sections == {"lungs and airways": ["- clear."]} and not low.problems
    assert parse_structured("LUNGS AND AIRWAYS:\n- Clear.").sections == {}


def test_format_parse_round_trip() -> None:
    rng = random.Random(0)
    words = ["No", "pleural", "effusion", "mild", "cardiomegaly", "stable", "tube", "(PICC)", "3.5", "cm", "-", "left-sided"]
    n_flat = 0
    for _ in range(200):
        headers = rng.sample(SRRG_HEADERS, rng.randint(1, len(SRRG_HEADERS)))
        sections = {h: [" ".join([rng.choice(words[:-2]), *rng.choices(words, k=rng.randint(0, 7))]) + rng.choice(["", "."])
                        for _ in range(rng.randint(1, 4))] for h in headers}
        text = format_structured(sections)
        parsed = parse_structured(text)
        assert not parsed.problems
        assert {h: parsed.bullets(h) for h in parsed.sections} == sections and list(parsed.sections) == headers
        assert format_structured(parsed.sections) == text
        if not any(" - " in b or b.endswith(" -") for v in sections.values() for b in v):
            # the released-CSV layout (line breaks removed) restores to the same sections
            flat = parse_structured(text.replace("\n", ""))
            assert {h: flat.bullets(h) for h in flat.sections} == sections
            n_flat += 1
    assert n_flat > 30
    assert format_structured({"Pleura": ["- Already a bullet", "  ", "plain"]}, order=SRRG_HEADERS) == \
        "Pleura:\n- Already a bullet\n- plain"


def test_flatten_for_labelers() -> None:
    assert flatten_structured("Lungs and Airways:\n- Clear lungs\n- No pneumothorax.\n\nPleura:\n- No effusion") == \
        "Clear lungs. No pneumothorax. No effusion."
    assert flatten_structured("Plain  free text.") == "Plain free text."


def test_phantom_structured_findings_group_sentences_by_class() -> None:
    from cogaze.data.phantom.reports import Report, Sentence
    from cogaze.data.phantom.structured import structured_findings

    report = Report(findings=[
        Sentence("Endotracheal tube terminates 4 cm above the carina.", {"Support Devices": 1}),
        Sentence("Moderate left pleural effusion.", {"Pleural Effusion": 1}),
        Sentence("The lungs are clear.", {}),
        Sentence("No focal consolidation, pleural effusion or pneumothorax.",
                 {"Consolidation": 2, "Pleural Effusion": 2, "Pneumothorax": 2}),
        Sentence("Normal cardiomediastinal silhouette.", {"Cardiomegaly": 2, "Enlarged Cardiomediastinum": 2}),
    ], impression=[], labels=tuple(np.zeros(14, dtype=int)))
    assert structured_findings(report) == (
        "Lungs and Airways:\n- The lungs are clear.\n- No focal consolidation, pleural effusion or pneumothorax.\n\n"
        "Pleura:\n- Moderate left pleural effusion.\n\nCardiovascular:\n- Normal cardiomediastinal silhouette.\n\n"
        "Tubes, Catheters, and Support Devices:\n- Endotracheal tube terminates 4 cm above the carina.")
    assert structured_findings(Report([], [], tuple(np.zeros(14, dtype=int)))) == ""


def test_structured_panel_lists_sections_side_by_side() -> None:
    from cogaze.html.page import ReportPage
    from cogaze.html.structured import structured_pair_html

    ref = "Lungs and Airways:\n- The lungs are clear.\n\nCardiovascular:\n- Normal heart size."
    gen = "Cardiovascular:\n- Mild <cardiomegaly>.\n\nLungs and Airways:\n- Clear lungs.\n\nPleura:\n- Small effusion."
    html = structured_pair_html(ref, gen, title="mimic-1")
    # canonical header order, one row each; Pleura (generated only) is marked
    assert html.index("Lungs and Airways") < html.index(">Pleura<") < html.index("Cardiovascular")
    assert html.count("<tr class=\"one-side\">") == 1 and html.count("(section absent)") == 1
    assert "Mild &lt;cardiomegaly&gt;." in html and "2 of 3 sections in both reports." in html
    page = ReportPage("t")
    page.add_structured_pair(ref, gen)
    from tests.html_check import check_page

    check_page(page.render())
