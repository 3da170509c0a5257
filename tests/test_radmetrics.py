"""The official README's model metrics: formula parts by hand (RadCliQ-v1, SemScore cosine, RadGraph
combined F1, aggregation, empty texts), model parts with tiny random models built here and loaded offline
(BERTScore, SemScore's CheXbert, RaTEScore), missing weights named; RadGraph's DyGIE model needs the
released archive (honest skip)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from cogaze.metrics import radmetrics as rm
from cogaze.metrics.reports_csv import ReportPairs

WORDS = ["no", "mild", "effusion", "cardiomegaly", "pleural", "pneumothorax", "heart", "size", "is", "normal",
         "lungs", "are", "clear", "small", "left", "right", "."]


def test_radcliq_v1_hand_computed():
    mean, scale = rm.RADCLIQ_MEAN, rm.RADCLIQ_SCALE
    at_mean = rm.radcliq_v1(*[np.array([m]) for m in mean])
    assert at_mean[0] == pytest.approx(2.46655256e-10, abs=1e-15)
    # one standard deviation above the mean on RadGraph alone: the RadGraph coefficient (+ intercept)
    x = [np.array([mean[0] + scale[0]]), np.array([mean[1]]), np.array([mean[2]]), np.array([mean[3]])]
    assert rm.radcliq_v1(*x)[0] == pytest.approx(-0.377083683 + 2.46655256e-10, abs=1e-12)
    # a pair by hand: radgraph 0.3, bertscore 0.5, semscore 0.6, bleu 0.2
    v = (-0.377083683 * (0.3 - 0.53792312) / 0.30282584 - 0.370300100 * (0.5 - 0.61757256) / 0.22430938
         - 0.252616218 * (0.6 - 0.76479421) / 0.25394391 + 4.31504841e-12 * (0.2 - 0.44738335) / 0.29892717
         + 2.46655256e-10)
    got = rm.radcliq_v1(np.array([0.3]), np.array([0.5]), np.array([0.6]), np.array([0.2]))
    assert got[0] == pytest.approx(v, abs=1e-12)


def test_report_convention_one_over_mean_and_resampling():
    from cogaze.metrics.report_eval import _per_pair_metric

    m = _per_pair_metric("RadCliQ-v1", np.array([0.5, 1.5, 1.0]))
    assert m.name == "1/RadCliQ-v1" and m.value() == pytest.approx(1 / 1.0)
    assert m.value(np.array([2.0, 0.0, 1.0])) == pytest.approx(1 / ((2 * 0.5 + 1.0) / 3))
    s = _per_pair_metric("SemScore", np.array([0.2, 0.4]))
    assert s.value() == pytest.approx(0.3)


def test_cosine_rows_and_zero_rule():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0], [1.0, 1.0]])
    assert rm.cosine_rows(a, b).tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert rm.cosine_rows([[3.0, 4.0]], [[4.0, 3.0]])[0] == pytest.approx(24 / 25)


def test_radgraph_combined_hand_computed():
    ref = {"entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "relations": [["located_at", "2"]]},
                        "2": {"tokens": "pleural", "label": "ANAT-DP", "relations": []},
                        "3": {"tokens": "pneumothorax", "label": "OBS-DA", "relations": []}}}
    hyp = {"entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "relations": []},
                        "2": {"tokens": "pleural", "label": "ANAT-DP", "relations": []}}}
    # entities: 2 of 2 predicted right, 2 of 3 found -> P 1, R 2/3, F1 0.8; relations: 0 of 1 -> F1 0
    assert rm.radgraph_combined(hyp, ref) == pytest.approx(0.4)
    assert rm.radgraph_combined(ref, ref) == pytest.approx(1.0)
    assert rm.radgraph_combined({"entities": {}}, ref) == 0.0


def test_bleu2_per_pair_tokens():
    got = rm.bleu2_per_pair(["No effusion.", "Heart size is normal."], ["no effusion .", "heart size normal"])
    assert got[0] == pytest.approx(1.0, abs=1e-6)  # lower-cased, "." split off: identical tokens
    assert 0 < got[1] < 1


def test_missing_weights_are_named(tmp_path):
    scores, per, missing = rm.compute_radmetrics(["No effusion."], ["No effusion."], list(rm.GROUPS),
                                                 rm.RadWeights(tmp_path))
    assert set(missing) == set(rm.RADMETRICS) - set(scores)
    if "BERTScore" in missing:
        assert "distilroberta-base" in missing["BERTScore"] and str(tmp_path) in missing["BERTScore"]
    if "SemScore" in missing:
        assert "chexbert.pth" in missing["SemScore"] or "CheXbert" in missing["SemScore"]
    if "1/RadCliQ-v1" in missing:
        assert missing["1/RadCliQ-v1"].startswith("needs")
    with pytest.raises(ValueError, match="unknown metric group"):
        rm.compute_radmetrics(["a"], ["a"], ["bleurt"], rm.RadWeights(tmp_path))


def _tiny_bert(folder, cls_name="BertModel", **extra):
    import transformers
    from transformers import BertConfig, BertTokenizer

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, **extra)
    getattr(transformers, cls_name)(cfg).save_pretrained(folder)
    BertTokenizer(vocab_file=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(folder)
    return folder


def _tiny_roberta(folder):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    folder.mkdir(parents=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([" ".join(WORDS)] * 5, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    tok = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=64)
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=5, num_attention_heads=2,
                               intermediate_size=24, max_position_embeddings=66, pad_token_id=1)).save_pretrained(folder)
    return folder


def _tiny_chexbert(folder):
    from transformers import BertConfig

    from cogaze.metrics.chexbert import CheXbertModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    torch.manual_seed(0)
    # one head: the loader reads hidden // 64 heads (12 for the released 768-wide model)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=1,
                     intermediate_size=37, max_position_embeddings=64)
    model = CheXbertModel(cfg).eval()
    torch.save({"model_state_dict": {"module." + k: v for k, v in model.state_dict().items()}},
               folder / "chexbert.pth")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return model


@pytest.mark.skipif(importlib.util.find_spec("bert_score") is None, reason="needs bert-score (cogaze[radmetrics])")
def test_bertscore_tiny_roberta_equals_library(tmp_path):
    folder = _tiny_roberta(tmp_path / "distilroberta-base")
    refs = ["Heart size is normal.", "No pleural effusion.", "Small  left effusion."]
    hyps = ["Heart size is normal.", "Mild cardiomegaly.", "Small left effusion."]
    got = rm.bertscore_per_pair(refs, hyps, folder, num_layers=2)
    # identical texts: raw F1 1 up to float noise of the padded batch, which the baseline rescaling
    # (x - b) / (1 - b) magnifies; runs of spaces are squeezed first
    assert got[0] == pytest.approx(1.0, abs=5e-3) and got[2] == pytest.approx(1.0, abs=5e-3)
    import bert_score

    baseline = str(rm.Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "distilroberta-base.tsv")
    _, _, f1 = bert_score.score(hyps, [" ".join(r.split(" ")).replace("  ", " ") for r in refs], model_type=str(folder),
                                num_layers=2, lang="en", rescale_with_baseline=True, baseline_path=baseline)
    assert np.allclose(got, f1.double().numpy(), atol=1e-6)
    scores, per, missing = rm.compute_radmetrics(refs, hyps, ["bertscore"], rm.RadWeights(tmp_path))
    assert "BERTScore" not in missing or "layer" in missing["BERTScore"]


def test_semscore_tiny_chexbert(tmp_path):
    model = _tiny_chexbert(tmp_path)
    refs = ["No pleural effusion.", "Heart size is normal.", ""]
    hyps = ["No pleural effusion.", "Mild cardiomegaly.", "Lungs are clear."]
    scores, per, missing = rm.compute_radmetrics(refs, hyps, ["semscore"], rm.RadWeights(tmp_path))
    assert not missing
    assert per["SemScore"][0] == pytest.approx(1.0, abs=1e-9) and -1 <= per["SemScore"][1] < 1
    # the embedding is the last layer's [CLS] state of the released architecture
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast.from_pretrained(str(tmp_path))
    with torch.no_grad():
        emb = [model.bert(**tok([t], return_tensors="pt")).last_hidden_state[0, 0].double().numpy()
               for t in (refs[1], hyps[1])]
    from cogaze.metrics.chexbert import CheXbertLabeler

    one = CheXbertLabeler(tmp_path / "chexbert.pth", batch_size=1).embed([refs[1], hyps[1]])
    assert np.allclose(one, np.stack(emb), atol=1e-5)
    assert per["SemScore"][1] == pytest.approx(rm.cosine_rows([emb[1]], [emb[0]])[0], abs=1e-6)
    assert scores["SemScore"] == pytest.approx(per["SemScore"].mean())


@pytest.mark.skipif(importlib.util.find_spec("RaTEScore") is None, reason="needs ratescore (cogaze[radmetrics])")
def test_ratescore_tiny_models_and_empty_pairs(tmp_path):
    pytest.importorskip("medspacy", reason="RaTEScore's sentence splitter needs medspacy")
    labels = ["O"] + [f"{p}-{t}" for t in ("ABNORMALITY", "NON-ABNORMALITY", "DISEASE", "NON-DISEASE", "ANATOMY")
                      for p in ("B", "I")]
    _tiny_bert(tmp_path / "RaTE-NER-Deberta", "BertForTokenClassification", num_labels=len(labels),
               id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})
    _tiny_bert(tmp_path / "BioLORD-2023-C")
    refs = ["Small left pleural effusion. Heart size is normal.", "No pneumothorax.", "Mild cardiomegaly."]
    hyps = ["Small left pleural effusion. Heart size is normal.", "", "Lungs are clear."]
    scores, per, missing = rm.compute_radmetrics(refs, hyps, ["ratescore"], rm.RadWeights(tmp_path))
    assert not missing, missing
    got = per["RaTEScore"]
    assert got[1] == 0.5  # empty hypothesis: the library's no-entity score, and no shift of later pairs
    assert got[0] in (pytest.approx(1.0), 0.5)  # identical texts: identical entities (or none)
    from RaTEScore import RaTEScore

    lib = RaTEScore(bert_model=str(tmp_path / "RaTE-NER-Deberta"), eval_model=str(tmp_path / "BioLORD-2023-C"),
                    use_gpu=False)
    direct = lib.compute_score([hyps[0], hyps[2]], [refs[0], refs[2]])
    assert np.allclose(got[[0, 2]], direct, atol=1e-9)
    assert scores["RaTEScore"] == pytest.approx(got.mean())


def test_radgraph_needs_released_model(tmp_path):
    with pytest.raises(rm.MetricUnavailable, match="radgraph/weights.th"):
        rm.RadWeights(tmp_path).radgraph_cache()
    try:
        rm.RadWeights(None).radgraph_cache()
    except rm.MetricUnavailable:
        pytest.skip("RadGraph F1 needs the released 'radgraph' model (radgraph.tar.gz, StanfordAIMI/RRG_scorers) "
                    "and its PubMedBERT tokenizer in the Hugging Face cache; not available offline here")


def test_evaluate_pairs_adds_radmetrics_and_names_missing(tmp_path):
    from cogaze.metrics.report_eval import evaluate_pairs

    pairs = ReportPairs.from_lists(["No effusion.", "Mild cardiomegaly."], ["No effusion.", "Heart is normal."])
    res = evaluate_pairs(pairs, n_boot=10, skip_missing=True, radmetrics=["radcliq"],
                         weights=rm.RadWeights(tmp_path))
    assert "1/RadCliQ-v1" in res["unavailable"] and "BERTScore" not in res["unavailable"]


def _rate_models(folder):
    labels = ["O"] + [f"{p}-{t}" for t in ("ABNORMALITY", "NON-ABNORMALITY", "DISEASE", "NON-DISEASE", "ANATOMY")
                      for p in ("B", "I")]
    _tiny_bert(folder / "RaTE-NER-Deberta", "BertForTokenClassification", num_labels=len(labels),
               id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})
    _tiny_bert(folder / "BioLORD-2023-C")


def test_cli_metrics_all_names_missing_and_prints_present(tmp_path, capsys):
    import csv

    from cogaze.cli import main

    src = tmp_path / "gen.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dicom_id", "reference_report", "generated_report"])
        w.writerow(["a", "No pleural effusion. Heart size is normal.", "No pleural effusion."])
        w.writerow(["b", "Mild cardiomegaly.", "Mild cardiomegaly. Small left effusion."])
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["evaluate", "reports", str(src), "--metrics", "all", "--weights", str(empty), "--bootstrap", "5"])
    out = capsys.readouterr()
    assert code == 1 and "requested metric(s) could not be computed" in out.err
    for name in ("BLEU_4", "ROUGE_L", "CE_14_micro_F1"):
        assert name in out.out
    for name in rm.RADMETRICS:  # every model metric is either printed or named with its reason
        assert name in out.out
    assert "unavailable: BERTScore: model weights 'distilroberta-base' not found" in out.out
    assert main(["evaluate", "reports", str(src), "--metrics", "all", "--weights", str(empty), "--bootstrap", "0",
                 "--skip-missing"]) == 0
    assert main(["evaluate", "reports", str(src), "--metrics", "bleurt"]) == 2
    # with (tiny) weights present the model metrics are printed with CIs
    weights = tmp_path / "w"
    _tiny_roberta(weights / "distilroberta-base")
    _tiny_chexbert(weights)
    groups = "nlg,ce,bertscore,semscore"
    if importlib.util.find_spec("RaTEScore") is not None and importlib.util.find_spec("medspacy") is not None:
        _rate_models(weights)
        groups += ",ratescore"
    capsys.readouterr()
    assert main(["evaluate", "reports", str(src), "--metrics", groups, "--weights", str(weights),
                 "--bootstrap", "5", "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    import json

    res = json.loads((tmp_path / "r.json").read_text())
    for name in ("BERTScore", "SemScore") + (("RaTEScore",) if "ratescore" in groups else ()):
        assert any(line.startswith(name) and "[" in line for line in printed.splitlines()), name
        assert isinstance(res[name], float) and len(res[f"{name}_CI"]) == 2
