"""CheXbert loading from a tiny random checkpoint in the released format; task metrics by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertTokenizerFast

from cogaze.errors import DataError
from cogaze.metrics import tasks
from cogaze.metrics.chexbert import CheXbertLabeler, CheXbertModel
from cogaze.metrics.meteor import MetricUnavailable

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "mild", "effusion", "cardiomegaly", "."]


@pytest.fixture()
def tiny_chexbert(tmp_path):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=37, max_position_embeddings=64)
    model = CheXbertModel(cfg).eval()
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "model_state_dict": sd}, tmp_path / "chexbert.pth")
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return model, tmp_path


def test_chexbert_loads_released_format_and_predicts_like_the_model(tiny_chexbert):
    model, folder = tiny_chexbert
    labeler = CheXbertLabeler(folder / "chexbert.pth", batch_size=2)
    texts = ["No effusion.", "Mild cardiomegaly.\n\n", "mild  effusion ."]
    got = labeler(texts)
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    expected = []
    with torch.no_grad():
        for t in texts:
            enc = tok([" ".join(t.split())], return_tensors="pt")
            expected.append([int(h.argmax(-1)) for h in model(enc["input_ids"], enc["attention_mask"])])
    assert got.tolist() == expected
    assert got.shape == (3, 14) and got[:, 13].max() <= 1 and got.max() <= 3


def test_chexbert_missing_and_unsafe_files(tmp_path):
    with pytest.raises(MetricUnavailable, match="CheXbert weights not found.*--labeler rule"):
        CheXbertLabeler(tmp_path / "chexbert.pth")
    torch.save({"model_state_dict": {"x": object.__new__(BertConfig)}}, tmp_path / "evil.pth")
    with pytest.raises(DataError, match="weights_only=True"):
        CheXbertLabeler(tmp_path / "evil.pth")


def test_auroc_f1_accuracy_hand_computed():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.6, 0.4, 0.8])
    # positive/negative pairs: (0.4 vs 0.1) win, (0.4 vs 0.6) loss, (0.8 vs both) win -> 3/4
    res = tasks.auroc(np.stack([y, np.zeros(4)], 1), np.stack([s, s], 1))
    assert res["per_class"][0] == pytest.approx(0.75) and np.isnan(res["per_class"][1])
    assert res["macro"] == pytest.approx(0.75)
    # threshold 0.5 -> pred 0,1,0,1: TP 1, FP 1, FN 1 -> F1 0.5; accuracy 2/4
    assert tasks.f1_at_threshold(y, s, 0.5) == pytest.approx(0.5)
    assert tasks.f1_at_threshold(y, s, 0.3) == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert tasks.accuracy(y, s) == pytest.approx(0.5)


def test_dice_policies_hand_computed():
    truth = np.zeros((3, 2, 2))
    pred = np.zeros((3, 2, 2))
    truth[0, 0, :] = 1  # 2 pixels
    pred[0, 0, 0] = 1  # 1 overlapping pixel -> Dice 2*1/(1+2) = 2/3
    pred[1, 1, 1] = 1  # empty truth, non-empty prediction -> 0
    # image 2: both empty -> 1
    assert tasks.dice_per_image(pred, truth) == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert tasks.dice_per_image(pred, truth, empty="skip") == pytest.approx(2 / 3)
    # pooled: |P| = 2, |T| = 2, overlap 1 -> 0.5
    assert tasks.dice_micro(pred, truth) == pytest.approx(0.5)
    assert tasks.dice_micro(np.zeros((1, 2, 2)), np.zeros((1, 2, 2))) == 1.0


def test_retrieval_precision_and_hit_rate():
    sim = np.array([[0.9, 0.8, 0.1], [0.2, 0.3, 0.9]])
    q = np.array(["a", "b"])
    g = np.array(["b", "a", "b"])
    r = tasks.retrieval_at_k(sim, q, g, ks=(1, 2))
    # query a: ranking b,a,b -> top1 miss, top2 1 hit; query b: ranking b(2),a,b(0) -> top1 hit, top2 1/2
    assert r["P@1"] == pytest.approx(0.5) and r["R@1"] == pytest.approx(0.5)
    assert r["P@2"] == pytest.approx(0.5) and r["R@2"] == pytest.approx(1.0)
