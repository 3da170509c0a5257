"""The text tokenizer (spec 1.2): GPT-2 byte-level BPE plus cogaze's special tokens.

:func:`load_tokenizer` extends any HF tokenizer directory (e.g. a GPT-2 one: 50,257 + 8 = 50,265 ids)
with the special tokens; :func:`train_tokenizer` trains a byte-level BPE on a report corpus with the
``tokenizers`` library and saves it in HF format (loads with ``AutoTokenizer``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cogaze.errors import ConfigError

BOS_EOS = "<|endoftext|>"
PAD, SEP, CLS = "[PAD]", "[SEP]", "[CLS]"
ROLE_TOKENS: tuple[str, ...] = ("[INDICATION]", "[HISTORY]", "[Similar Cases]", "[FINDINGS]", "[TRANSCRIPT]")
"""Added (non-special) role tags, in the reference order."""

REPORT_PREFIX = "[CLS] [FINDINGS] "
TRANSCRIPT_PREFIX = "[CLS] [TRANSCRIPT] "


def extend_tokenizer(tokenizer):  # noqa: ANN001, ANN201 - any HF tokenizer
    """Add ``[PAD] [SEP] [CLS]`` as special tokens and the role tags as added tokens (idempotent)."""
    tokenizer.add_special_tokens({"pad_token": PAD, "sep_token": SEP, "cls_token": CLS})
    tokenizer.add_tokens([t for t in ROLE_TOKENS if t not in tokenizer.get_vocab()])
    tokenizer.padding_side = "right"
    return tokenizer


def raw_tokenizer(path: str | Path):  # noqa: ANN201
    """A tokenizer as saved in a local folder or under a hub id (local Hugging Face cache first), not extended."""
    from transformers import AutoTokenizer

    from cogaze.models.hub import looks_local, where

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except Exception as err:  # noqa: BLE001 - missing files, offline hub, damaged JSON: one clear message
        hint = "" if looks_local(str(path)) else f" (looked in {where(str(path))})"
        raise ConfigError(f"cannot load tokenizer from {path!s}{hint}: {str(err).strip().splitlines()[0]}") from None


def load_tokenizer(path: str | Path):  # noqa: ANN201
    """Load a tokenizer from a local directory or a hub id and extend it (spec 1.2)."""
    return extend_tokenizer(raw_tokenizer(path))


CONTEXT_FORMATS: tuple[str, ...] = ("mimic", "srrg")
"""``mimic``: indication and history with their role tags (MIMIC-CXR tasks); ``srrg``: history only
(structured report generation, whose annotations carry no indication)."""


def context_string(indication: str, history: str, fmt: str = "mimic") -> tuple[str, bool]:
    """The context text and whether the sample has context (else ``"[PAD]"``).

    ``fmt="mimic"``: ``[CLS] [INDICATION] ind [SEP] [HISTORY] hist`` (spec 1.2); ``fmt="srrg"``:
    ``[CLS] hist`` without role tags, the indication ignored (the SRRG loader of the reference code).
    """
    ind, hist = (indication or "").strip(), (history or "").strip()
    if fmt == "srrg":
        return (f"[CLS] {hist}", True) if hist else (PAD, False)
    if fmt != "mimic":
        raise ValueError(f"context format must be one of {', '.join(CONTEXT_FORMATS)}, got {fmt!r}")
    if not ind and not hist:
        return PAD, False
    return f"[CLS] [INDICATION] {ind} [SEP] [HISTORY] {hist}", True


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 8000, seed: int = 0):  # noqa: ANN201
    """Train a byte-level BPE on ``texts`` and save it (HF ``PreTrainedTokenizerFast``) under ``out_dir``.

    The special tokens of spec 1.2 are part of the vocabulary (each encodes to one id). Returns the
    loaded, extended tokenizer. ``seed`` is accepted for API symmetry: BPE training is deterministic.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    del seed
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ConfigError("train_tokenizer: the corpus is empty (no non-blank texts)")
    specials = [BOS_EOS, PAD, SEP, CLS, *ROLE_TOKENS]
    if vocab_size < 256 + len(specials):
        raise ConfigError(f"train_tokenizer: vocab_size must be >= {256 + len(specials)}, got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS_EOS, eos_token=BOS_EOS, unk_token=BOS_EOS,
        pad_token=PAD, sep_token=SEP, cls_token=CLS,
    )
    extend_tokenizer(fast)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return load_tokenizer(out)
