"""Structured-report metrics: the StructEval protocol against direct library calls, the paper's Table 2
values from the authors' released outputs, F1-SRR with a tiny local BERT, RadGraph through a stand-in."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from rouge_score import rouge_scorer
from sklearn.metrics import classification_report

from cogaze.cli import main
from cogaze.metrics.meteor import MetricUnavailable
from cogaze.metrics.report_eval import evaluate_structured_pairs
from cogaze.metrics.reports_csv import ReportPairs, read_reports_csv
from cogaze.metrics.stats import bootstrap_ci
from cogaze.metrics.structured import section_rows, structured_scores

REFS = [
    "Lungs and Airways:\n- The lungs are clear.\n- No pneumothorax.\n\nPleura:\n- No pleural effusion.\n\n"
    "Cardiovascular:\n- Normal heart size.",
    "Lungs and Airways:\n- Mild pulmonary edema.\n\nTubes, Catheters, and Support Devices:\n- Right PICC in the SVC.",
    "Pleura:\n- Small left pleural effusion.",
]
HYPS = [
    "Lungs and Airways:\n- Lungs are clear.\n- No pneumothorax is seen.\n- Extra bullet.\n\nPleura:\n"
    "- No pleural effusion.\n\nOther:\n- Invented section.",
    "Lungs and Airways:\n- Moderate pulmonary edema.",
    "Pleura:\n- Small left effusion.\n\nCardiovascular:\n- Mild cardiomegaly.",
]
ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def _bleu4(refs, hyps) -> float:
    score, _ = Bleu(4).compute_score({i: [r] for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)},
                                     verbose=0)
    return score[3]


def _rouge(refs, hyps) -> float:
    return float(np.mean([ROUGE.score(r, h)["rougeL"].fmeasure for r, h in zip(refs, hyps)]))


def test_section_protocol_equals_direct_library_calls() -> None:
    res = structured_scores(REFS, HYPS)
    # rows: report 0 -> Lungs, Pleura, Cardiovascular (missing), Other (invented);
    # report 1 -> Lungs, Tubes (missing); report 2 -> Pleura, Cardiovascular (invented)
    matched = [("The lungs are clear.\nNo pneumothorax.", "Lungs are clear.\nNo pneumothorax is seen.\nExtra bullet."),
               ("No pleural effusion.", "No pleural effusion."),
               ("Mild pulmonary edema.", "Moderate pulmonary edema."),
               ("Small left pleural effusion.", "Small left effusion.")]
    n_rows = 8
    assert res.counts["n_section_rows"] == n_rows and res.counts["n_matched_rows"] == 4
    bleu = sum(_bleu4([r], [h]) for r, h in matched) / n_rows
    rouge = sum(_rouge([r], [h]) for r, h in matched) / n_rows
    assert res.scores["BLEU"] == pytest.approx(bleu, abs=1e-12)
    assert res.scores["ROUGE_L"] == pytest.approx(rouge, abs=1e-12)
    assert res.per_section["Other"] == {"n_rows": 1.0, "BLEU": 0.0, "ROUGE_L": 0.0}
    # aligned: bullet i vs bullet i, extra generated bullets dropped, missing ones "No findings"
    aligned = structured_scores(REFS, HYPS, aligned=True)
    lungs0 = (["The lungs are clear.", "No pneumothorax."], ["Lungs are clear.", "No pneumothorax is seen."])
    expect = (_bleu4(*lungs0) + _bleu4(["No pleural effusion."], ["No pleural effusion."])
              + _bleu4(["Mild pulmonary edema."], ["Moderate pulmonary edema."])
              + _bleu4(["Small left pleural effusion."], ["Small left effusion."])) / n_rows
    assert aligned.scores["BLEU"] == pytest.approx(expect, abs=1e-12)
    padded = structured_scores(["Pleura:\n- a b c d e.\n- No effusion."], ["Pleura:\n- a b c d e."], aligned=True)
    assert padded.scores["ROUGE_L"] == pytest.approx(_rouge(["a b c d e.", "No effusion."], ["a b c d e.", "No findings"]))
    # lower-casing changes BLEU (case-sensitive tokens) but not ROUGE-L (rouge_score lower-cases itself)
    case = structured_scores(["Pleura:\n- No Effusion seen here today."], ["Pleura:\n- no effusion seen here today."])
    lower = structured_scores(["Pleura:\n- No Effusion seen here today."], ["Pleura:\n- no effusion seen here today."],
                              lower=True)
    assert lower.scores["BLEU"] == pytest.approx(1.0) and case.scores["BLEU"] < 0.7
    assert lower.scores["ROUGE_L"] == case.scores["ROUGE_L"] == pytest.approx(1.0)


def test_section_presence_equals_sklearn_and_resamples_by_report() -> None:
    refs = REFS + ["Pleura:\n- x."]
    hyps = HYPS + ["not structured at all"]  # a generation with no section: every reference header missed
    res = structured_scores(refs, hyps)
    labels = sorted({"Lungs and Airways", "Pleura", "Cardiovascular", "Other", "Tubes, Catheters, and Support Devices"})
    sec = section_rows(refs, hyps)
    y_true = [[int(h in p.sections) for h in labels] for p in sec.references]
    y_pred = [[int(h in p.sections) for h in labels] for p in sec.hypotheses]
    direct = classification_report(y_true, y_pred, output_dict=True, zero_division=0)["samples avg"]
    assert res.scores["section_P"] == pytest.approx(direct["precision"])
    assert res.scores["section_R"] == pytest.approx(direct["recall"])
    assert res.scores["section_F1"] == pytest.approx(direct["f1-score"])
    by_name = {m.name: m for m in res.metrics}
    for key in ("section_P", "section_R", "section_F1", "BLEU"):
        assert by_name[key].value() == pytest.approx(res.scores[key])  # the resampling statistics agree
    ci = bootstrap_ci([by_name["section_F1"], by_name["ROUGE_L"]], n_boot=200, seed=0)
    assert ci["section_F1"][0] <= res.scores["section_F1"] <= ci["section_F1"][1]


def test_section_ce_counts_findings_under_their_header() -> None:
    refs = ["Pleura:\n- Small left pleural effusion.\n\nCardiovascular:\n- Cardiomegaly."]
    hyps = ["Pleura:\n- Small left pleural effusion.\n\nLungs and Airways:\n- Cardiomegaly."]
    res = structured_scores(refs, hyps)
    # effusion right (TP); cardiomegaly under the wrong header: missed (FN) and invented (FP)
    assert res.scores["section_CE_micro_P"] == pytest.approx(0.5)
    assert res.scores["section_CE_micro_R"] == pytest.approx(0.5)
    assert res.scores["section_CE_micro_F1"] == pytest.approx(0.5)
    assert res.scores["CE_14_micro_F1"] == pytest.approx(1.0)  # the flattened reports agree


def test_radgraph_rows_use_the_pair_scorer() -> None:
    seen = []

    def fake(refs, hyps):
        seen.extend(zip(refs, hyps))
        return [(len(h) / 100, 0.5, 0.25) for h in hyps]

    res = structured_scores(REFS, HYPS, radgraph=fake)
    pairs = [(r.reference, r.hypothesis) for r in section_rows(REFS, HYPS).rows if r.matched]
    assert seen == [("\n".join(r), "\n".join(h)) for r, h in pairs]
    assert res.scores["RadGraph_partial"] == pytest.approx(4 * 0.5 / 8)
    assert res.scores["RadGraph_simple"] == pytest.approx(sum(len("\n".join(h)) / 100 for _, h in pairs) / 8)


@pytest.fixture(scope="module")
def tiny_srr_bert(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("srr")
    words = sorted({w.strip(".,").lower() for t in REFS + HYPS for w in t.replace("\n", " ").split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "-", ".", ","]))
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words) + 8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=512, num_labels=6,
                        problem_type="multi_label_classification")
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(40)  # confident, varied labels
    model.save_pretrained(str(folder))
    return folder


def test_srr_protocol_equals_sklearn_on_the_classifier_labels(tiny_srr_bert) -> None:
    from cogaze.metrics.srr import SRRClassifier

    srr = SRRClassifier(tiny_srr_bert)
    res = structured_scores(REFS, HYPS, srr=srr)
    rows = section_rows(REFS, HYPS).rows
    f1s, ps = [], []
    for row in rows:
        if not row.matched:
            f1s.append(0.0)
            ps.append(0.0)
            continue
        ref = srr.predict(row.reference).any(0).astype(int)[None]
        hyp = srr.predict(row.hypothesis).any(0).astype(int)[None]
        rep = classification_report(ref, hyp, output_dict=True, zero_division=0)["samples avg"]
        f1s.append(rep["f1-score"])
        ps.append(rep["precision"])
    assert res.scores["SRR_F1"] == pytest.approx(np.mean(f1s)) and res.scores["SRR_P"] == pytest.approx(np.mean(ps))
    labels = srr.predict([b for r in rows if r.matched for b in r.reference])
    assert labels.shape[1] == 6 and 0 < labels.mean() < 1  # the check is not vacuous
    aligned = structured_scores(REFS, HYPS, srr=srr, aligned=True)
    f1s = []
    for row in rows:
        if row.matched:
            ref, hyp = row.pairs(aligned=True)
            f1s.append(classification_report(srr.predict(ref), srr.predict(hyp), output_dict=True,
                                              zero_division=0)["samples avg"]["f1-score"])
        else:
            f1s.append(0.0)
    assert aligned.scores["SRR_F1"] == pytest.approx(np.mean(f1s))
    with pytest.raises(MetricUnavailable, match="no config.json"):
        SRRClassifier(tiny_srr_bert.parent)


def test_table2_from_the_released_structured_outputs(shared_data) -> None:
    """The paper's Table 2 row CoGaze (DistilGPT2): BLEU 2.80, ROUGE-L 20.23 and what it prints as
    SRR P / R / F1 = 75.82 / 85.61 / 78.32, which are StructEval's section-presence scores."""
    pairs = read_reports_csv(shared_data / "srrg_cogaze_distilgpt2_generated.csv")
    res = evaluate_structured_pairs(pairs, n_boot=0, radgraph=False)
    got = {k: round(100 * res[k], 2) for k in ("BLEU", "ROUGE_L", "section_P", "section_R", "section_F1")}
    assert got == {"BLEU": 2.80, "ROUGE_L": 20.23, "section_P": 75.82, "section_R": 85.61, "section_F1": 78.32}
    assert res["n_pairs"] == 1459 and res["n_section_rows"] == 8586 and res["n_reference_lines_discarded"] == 0


def test_cli_evaluate_structured(tmp_path, capsys) -> None:
    path = tmp_path / "s.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dicom_id", "reference_report", "generated_report"])
        w.writerows([(f"s{i}", r, h) for i, (r, h) in enumerate(zip(REFS, HYPS))])
    out = tmp_path / "s.json"
    assert main(["evaluate", "reports", "--structured", str(path), "--bootstrap", "50", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "BLEU" in text and "section_F1" in text and "SRR" in text and "unavailable" in text
    data = json.loads(out.read_text())
    direct = structured_scores(REFS, HYPS)
    assert data["BLEU"] == pytest.approx(direct.scores["BLEU"]) and data["protocol"]["aligned"] is False
    assert "RadGraph" in data["unavailable"] and "SRR" in data["unavailable"] and len(data["BLEU_CI"]) == 2
    assert main(["evaluate", "reports", str(path), "--aligned"]) == 2  # structured-only options need --structured
    assert ReportPairs.from_lists(REFS, HYPS).references == REFS
