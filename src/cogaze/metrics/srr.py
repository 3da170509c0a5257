"""F1-SRR: abnormality labels of the SRR-BERT classifier compared section by section (StructEval protocol).

SRR-BERT (the SRRG authors' ``SRR-BERT-Leaves`` checkpoint: a BERT sequence classifier over 55
categories, sigmoid > 0.5 per category) labels every bullet (utterance). Per section row, with
``aligned=False`` the labels of all bullets of each side are merged (logical OR) and compared as one
sample; with ``aligned=True`` bullet i of the reference is compared with bullet i of the generation.
Precision / recall / F1 are scikit-learn's sample averages (a sample with no true or no predicted
label scores 0), and the corpus value is their mean over section rows (an unmatched row scores 0).

The weights are not downloaded: pass a local folder holding the checkpoint (``config.json`` and
weights) and a tokenizer (StructEval uses the CXR-BERT-general vocabulary; by default the tokenizer
is read from the same folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cogaze.metrics.meteor import MetricUnavailable


class SRRClassifier:
    """SRR-BERT from local folders; :meth:`predict` gives (n, n_labels) 0/1 labels per sentence."""

    def __init__(self, model_dir: str | Path, tokenizer_dir: str | Path | None = None, batch_size: int = 4,
                 max_length: int = 512, device: str | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_dir = Path(model_dir)
        tok_dir = Path(tokenizer_dir) if tokenizer_dir is not None else model_dir
        if not (model_dir / "config.json").is_file():
            raise MetricUnavailable(f"--srr-bert {model_dir}: no config.json there; pass the local folder of the "
                                    "SRR-BERT checkpoint (e.g. a copy of StanfordAIMI/SRR-BERT-Leaves)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        except (OSError, ValueError) as err:
            raise MetricUnavailable(f"no tokenizer in {tok_dir} ({str(err).splitlines()[0]}); pass "
                                    "--srr-bert-tokenizer (StructEval uses microsoft/BiomedVLP-CXR-BERT-general)") from None
        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
        except (OSError, ValueError) as err:
            raise MetricUnavailable(f"cannot load SRR-BERT from {model_dir}: {str(err).splitlines()[0]}") from None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.batch_size, self.max_length = batch_size, max_length
        n = int(self.model.config.num_labels)
        names = getattr(self.model.config, "id2label", None) or {}
        self.labels = [str(names.get(i, names.get(str(i), f"label_{i}"))) for i in range(n)]
        self._cache: dict[str, np.ndarray] = {}

    def predict(self, sentences: Sequence[str]) -> np.ndarray:
        """0/1 labels (n, n_labels) of ``sentences`` (each distinct sentence is classified once)."""
        import torch

        todo = [s for s in dict.fromkeys(sentences) if s not in self._cache]
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            # padded to max_length like StructEval (so logits match its batches exactly)
            enc = self.tokenizer(batch, add_special_tokens=True, max_length=self.max_length, padding="max_length",
                                 truncation=True, return_attention_mask=True, return_tensors="pt").to(self.device)
            with torch.no_grad():
                probs = torch.sigmoid(self.model(**enc).logits.float())
            for s, row in zip(batch, (probs > 0.5).cpu().numpy().astype(np.int64)):
                self._cache[s] = row
        width = len(self.labels)
        return np.stack([self._cache[s] for s in sentences]) if sentences else np.zeros((0, width), dtype=np.int64)


def sample_prf(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float]:
    """scikit-learn's sample-averaged precision, recall, F1 (zero_division=0) of (n, L) 0/1 arrays."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    tp, fp, fn = (t & p).sum(1), ((1 - t) & p).sum(1), (t & (1 - p)).sum(1)
    prec = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=tp + fp > 0)
    rec = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=tp + fn > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(tp)), where=2 * tp + fp + fn > 0)
    return float(prec.mean()), float(rec.mean()), float(f1.mean())


def srr_row_scores(sections, srr: SRRClassifier, aligned: bool = False) -> dict[str, list[float]]:
    """SRR_P / SRR_R / SRR_F1 of every section row of ``sections`` (a :class:`~cogaze.metrics.structured.Sections`)."""
    sentences = [s for row in sections.rows if row.matched for side in row.pairs(True) for s in side]
    srr.predict(sentences)  # classify every distinct bullet once
    out: dict[str, list[float]] = {"SRR_P": [], "SRR_R": [], "SRR_F1": []}
    for row in sections.rows:
        if not row.matched:
            values = (0.0, 0.0, 0.0)
        elif aligned:
            ref, hyp = row.pairs(True)
            values = sample_prf(np.asarray(srr.predict(ref)), np.asarray(srr.predict(hyp)))
        else:
            ref_l = np.asarray(srr.predict(row.reference).any(0, keepdims=True), dtype=np.int64)
            hyp_l = np.asarray(srr.predict(row.hypothesis).any(0, keepdims=True), dtype=np.int64)
            values = sample_prf(ref_l, hyp_l)
        for key, v in zip(("SRR_P", "SRR_R", "SRR_F1"), values):
            out[key].append(v)
    return out
