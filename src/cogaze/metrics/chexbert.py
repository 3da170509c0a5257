"""CheXbert labeler from a local ``chexbert.pth`` (Smit et al. 2020), weights loaded without pickle.

Architecture (the released checkpoint's): ``bert`` = transformers ``BertModel`` (bert-base-uncased
sizes), dropout, ``linear_heads`` = 13 ``Linear(hidden, 4)`` heads (blank, positive, negative,
uncertain) + one ``Linear(hidden, 2)`` head for No Finding (blank, positive), applied to the [CLS]
state; argmax per head gives the spec 1.3 coding. The BERT configuration is read from the weight
shapes, so smaller test checkpoints in the same format load too.

The file is ``torch.save({"model_state_dict": ..., ...})`` from a DataParallel model (keys prefixed
``module.``); a bare state dict, ``state_dict`` key or no prefix are accepted as well. It is read with
``torch.load(weights_only=True)``: no pickled code runs. Preprocessing follows spec 6.2.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.errors import DataError
from cogaze.metrics.meteor import MetricUnavailable


class CheXbertModel(nn.Module):
    """BERT + 14 linear heads, parameter names as in the released checkpoint."""

    def __init__(self, config):  # config: transformers.BertConfig
        super().__init__()
        from transformers import BertModel

        self.bert = BertModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(0.1)
        hidden = config.hidden_size
        self.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        cls = self.dropout(self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0])
        return [head(cls) for head in self.linear_heads]


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MetricUnavailable(
            f"CheXbert weights not found at {path}. Download chexbert.pth (Stanford AIMI, "
            "https://github.com/stanfordmlgroup/CheXbert) and pass --chexbert PATH, or use --labeler rule."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here is a bad file
        raise DataError(f"cannot read CheXbert weights safely (weights_only=True): {err}", path) from None
    if isinstance(obj, dict):
        for key in ("model_state_dict", "state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError("not a CheXbert checkpoint (expected a state dict of tensors)", path)
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


def _config_from_weights(sd: dict[str, torch.Tensor], path: Path):
    from transformers import BertConfig

    try:
        vocab, hidden = sd["bert.embeddings.word_embeddings.weight"].shape
        layers = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k)))
        inter = sd["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]
        positions = sd["bert.embeddings.position_embeddings.weight"].shape[0]
        types = sd["bert.embeddings.token_type_embeddings.weight"].shape[0]
    except (KeyError, ValueError) as err:
        raise DataError(f"not a CheXbert checkpoint (missing BERT weights: {err})", path) from None
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64), intermediate_size=inter,
                      max_position_embeddings=positions, type_vocab_size=types)


def preprocess(text: str) -> str:
    """Spec 6.2: strip, new lines -> space, collapse whitespace."""
    return " ".join(text.strip().replace("\n", " ").split())


class CheXbertLabeler:
    """Texts -> (n, 14) raw labels with a local CheXbert checkpoint and a local BERT tokenizer folder."""

    name = "chexbert"

    def __init__(self, weights: str | Path, tokenizer: str | Path | None = None, batch_size: int = 16,
                 device: str = "cpu"):
        from transformers import BertTokenizerFast  # type: ignore[attr-defined]  # lazily exported

        weights = Path(weights)
        sd = _state_dict(weights)
        config = _config_from_weights(sd, weights)
        self.model = CheXbertModel(config)
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        missing = [k for k in missing if "position_ids" not in k]
        unexpected = [k for k in unexpected if "position_ids" not in k]
        if missing or unexpected:
            raise DataError(f"CheXbert weights do not match the model: missing {missing[:5]}, "
                            f"unexpected {unexpected[:5]}", weights)
        self.model.eval().to(device)
        tok_dir = Path(tokenizer) if tokenizer is not None else weights.parent
        if not (tok_dir / "vocab.txt").is_file() and not (tok_dir / "tokenizer.json").is_file():
            raise MetricUnavailable(
                f"no bert-base-uncased tokenizer (vocab.txt) in {tok_dir}; pass --chexbert-tokenizer DIR "
                "(a local copy of bert-base-uncased)"
            )
        self.tokenizer = BertTokenizerFast.from_pretrained(str(tok_dir), local_files_only=True)
        self.max_length = min(512, config.max_position_embeddings)
        self.batch_size, self.device = batch_size, device

    def _batches(self, texts: Sequence[str]):
        for s in range(0, len(texts), self.batch_size):
            batch = [preprocess(t) for t in texts[s : s + self.batch_size]]
            # truncation keeps [SEP] as the last token of a truncated text (spec 6.2)
            enc = self.tokenizer(batch, truncation=True, max_length=self.max_length, padding=True,
                                 return_tensors="pt")
            yield s, batch, enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    @torch.no_grad()
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """CheXbert report embeddings (n, hidden): the last layer's [CLS] state, as CXR-Report-Metric's
        ``encode.py`` takes them for SemScore (s_emb)."""
        out = np.zeros((len(texts), self.model.bert.config.hidden_size), dtype=np.float64)
        for s, batch, ids, mask in self._batches(texts):
            hidden = self.model.bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
            out[s : s + len(batch)] = hidden.double().cpu().numpy()
        return out

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(CHEXPERT_CLASSES)), dtype=np.int64)
        for s, batch, ids, mask in self._batches(texts):
            logits = self.model(ids, mask)
            out[s : s + len(batch)] = torch.stack([lg.argmax(-1) for lg in logits], 1).cpu().numpy()
        return out
