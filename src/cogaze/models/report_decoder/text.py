"""Turning report text into decoder targets and generated ids back into text (spec 5.1).

Target = ``BOS + " " + prompt + text + " " + EOS`` (BOS = EOS = ``<|endoftext|>`` for GPT-2 BPE),
cut to ``max_tokens``, right-padded; decoder input = tokens[:-1] with ``[SEP]`` mapped to pad;
labels = tokens[1:] with padding at -100. Generated text: special tokens dropped, stripped, every
character outside printable ASCII removed (line breaks kept for structured reports).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

_NON_ASCII = re.compile(r"[^\x20-\x7E]")
_NON_ASCII_KEEP_LINES = re.compile(r"[^\x20-\x7E\n]")


def ascii_clean(text: str, keep_newlines: bool = False) -> str:
    """Strip and delete every character outside printable ASCII 0x20-0x7E (spec 5.1 post-processing).

    ``keep_newlines`` keeps line breaks (and drops trailing blanks of each line): structured reports
    live on their line structure, which the plain filter would glue into ``Header:- item- item``.
    """
    if not keep_newlines:
        return _NON_ASCII.sub("", text.strip()).strip()
    lines = _NON_ASCII_KEEP_LINES.sub("", text.replace("\r\n", "\n")).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


class TextCodec:
    """Encodes targets and decodes generations with any Hugging Face tokenizer."""

    def __init__(self, tokenizer, prompt: str = "", max_tokens: int = 200, keep_newlines: bool = False):
        self.tokenizer = tokenizer
        self.keep_newlines = keep_newlines
        eos = tokenizer.eos_token or "<|endoftext|>"
        self.eos_token = eos
        self.eos_id = tokenizer.convert_tokens_to_ids(eos)
        vocab = tokenizer.get_vocab()
        pad = "[PAD]" if "[PAD]" in vocab else (tokenizer.pad_token or eos)
        self.pad_id = tokenizer.convert_tokens_to_ids(pad)
        self.sep_id = vocab.get("[SEP]")
        self.prompt = prompt.strip()
        self.max_tokens = max_tokens

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def _wrap(self, text: str) -> str:
        body = " ".join(part for part in (self.prompt, text.strip()) if part)
        return f"{self.eos_token} {body}"

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self) -> Tensor:
        """(1, P) ids every generation starts from: BOS and the prompt."""
        ids = [self.eos_id] + (self._ids(" " + self.prompt) if self.prompt else [])
        return torch.tensor([ids], dtype=torch.long)

    def encode_targets(self, texts: Sequence[str]) -> dict[str, Tensor]:
        """Teacher-forcing batch: ``input_ids``, ``attention_mask``, ``labels`` (B, L-1)."""
        rows = [(self._ids(self._wrap(t) + " ") + [self.eos_id])[: self.max_tokens] for t in texts]
        width = max(len(r) for r in rows)
        tokens = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            tokens[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        inputs = tokens[:, :-1].clone()
        if self.sep_id is not None:
            inputs[inputs == self.sep_id] = self.pad_id
        labels = tokens[:, 1:].clone()
        labels[mask[:, 1:] == 0] = -100
        return {"input_ids": inputs, "attention_mask": mask[:, 1:], "labels": labels}

    def decode(self, ids: Tensor) -> list[str]:
        """Generated ids (B, T) -> texts, cut at the first EOS, special tokens dropped, ASCII-cleaned."""
        texts = []
        for row in ids.tolist():
            if self.eos_id in row:
                row = row[: row.index(self.eos_id)]
            texts.append(ascii_clean(self.tokenizer.decode(row, skip_special_tokens=True), self.keep_newlines))
        return texts

    def truncate_reference(self, text: str, max_tokens: int) -> str:
        """The reference as scored in the paper: BOS + text cut to ``max_tokens`` tokens, decoded (spec D26)."""
        if max_tokens <= 0:
            return ascii_clean(text, self.keep_newlines)
        ids = self._ids(self._wrap(text))[:max_tokens]
        out = ascii_clean(self.tokenizer.decode(ids, skip_special_tokens=True), self.keep_newlines)
        if self.prompt and out.startswith(self.prompt):
            out = out[len(self.prompt) :].strip()
        return out
