"""Shared helpers for the report-generation tests: a tiny byte-level BPE tokenizer and a toy encoder."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import Tensor, nn
from transformers import PreTrainedTokenizerFast

from cogaze.models.interface import ImageFeatures

SPECIAL = ["<|endoftext|>", "[PAD]", "[SEP]", "[CLS]", "[INDICATION]", "[HISTORY]", "[Similar Cases]",
           "[FINDINGS]", "[TRANSCRIPT]", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
           "<|eot_id|>"]

CLASS_REPORTS = (
    "The lungs are clear. No pleural effusion or pneumothorax.",
    "There is a small left pleural effusion with adjacent atelectasis.",
    "The heart is enlarged. Mild pulmonary edema is present.",
)

_WORDS = ["lungs", "clear", "heart", "size", "normal", "enlarged", "pleural", "effusion", "left", "right",
          "small", "large", "pneumothorax", "atelectasis", "edema", "mild", "moderate", "opacity", "basilar",
          "consolidation", "no", "there", "is", "the", "with", "and", "of", "present", "stable", "lobe"]


def _corpus() -> list[str]:
    gen = torch.Generator().manual_seed(0)
    lines = list(CLASS_REPORTS)
    for _ in range(300):
        idx = torch.randint(len(_WORDS), (8,), generator=gen).tolist()
        lines.append(" ".join(_WORDS[i] for i in idx).capitalize() + ".")
    from cogaze.models.llm_reporter import prompt

    lines += [prompt.FINDINGS_SYSTEM, prompt.FINDINGS_INSTRUCTIONS, prompt.STRUCTURED_SYSTEM] * 5
    lines += ["Input:\n1. Image: \n2. Similar report: \n3. Predicted diseases: None\n"] * 5
    return lines


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE (about 600 tokens) with the cogaze and Llama-3 special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="[PAD]",
        sep_token="[SEP]", cls_token="[CLS]",
        additional_special_tokens=SPECIAL[4:],
    )


class ToyEncoder(nn.Module):
    """A frozen random VisionLanguageEncoder: latents are a fixed projection of 4 image quadrants."""

    def __init__(self, embed_dim: int = 16, image_size: int = 8, seed: int = 0):
        super().__init__()
        self.embed_dim, self.image_size = embed_dim, image_size
        gen = torch.Generator().manual_seed(seed)
        q = image_size // 2
        self.proj = nn.Parameter(torch.randn(3 * q * q, embed_dim, generator=gen) / 4, requires_grad=False)
        self.head = nn.Parameter(torch.randn(embed_dim, 14, generator=gen), requires_grad=False)

    def encode_images(self, pixel_values: Tensor, views: Sequence[str], indications=None, histories=None,
                      context_format: str = "mimic"):
        self.context_formats = getattr(self, "context_formats", []) + [context_format]
        b, c, s, _ = pixel_values.shape
        q = s // 2
        quads = pixel_values.reshape(b, c, 2, q, 2, q).permute(0, 2, 4, 1, 3, 5).reshape(b, 4, c * q * q)
        latents = quads @ self.proj
        pooled = latents.mean(1)
        return ImageFeatures(pooled=pooled, latents=latents, patches=latents, grid=2, logits=pooled @ self.head)

    def encode_texts(self, texts, kind="report"):
        return torch.zeros(len(texts), self.embed_dim)

    def patch_text_similarity(self, pixel_values, views, texts):
        return torch.zeros(pixel_values.shape[0], 4)


def class_images(labels: Sequence[int], seed: int = 0, size: int = 8, noise: float = 0.05) -> Tensor:
    """Images whose content is a per-class pattern plus small noise."""
    gen = torch.Generator().manual_seed(1000)
    patterns = torch.randn(3, 3, size, size, generator=gen)
    gen = torch.Generator().manual_seed(seed)
    out = patterns[torch.tensor(list(labels))]
    return out + noise * torch.randn(out.shape, generator=gen)
