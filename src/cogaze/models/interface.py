"""The encoder interface every downstream task calls (docs/encoder.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor


@dataclass
class ImageFeatures:
    """Image-side outputs of a vision-language encoder for a batch of B images."""

    pooled: Tensor
    """(B, D) mean of the vision latents: the global image embedding (not normalised)."""
    latents: Tensor
    """(B, m, D) vision latents (what report decoders cross-attend to)."""
    patches: Tensor
    """(B, P, D) projected patch features, P = grid * grid, row-major."""
    grid: int
    """Side of the patch grid."""
    logits: Tensor | None = None
    """(B, 14) disease logits of the vision classifier, when the model has one."""
    context_latents: Tensor | None = None
    """(B, m, D) the latents that queried the image: context latents, or the image latent Z_I for an image
    without context (the paper's report decoders attend to ``[latents; context_latents]``)."""


@runtime_checkable
class VisionLanguageEncoder(Protocol):
    """What downstream tasks need from a pretrained model."""

    embed_dim: int
    image_size: int

    def encode_images(
        self,
        pixel_values: Tensor,
        views: Sequence[str],
        indications: Sequence[str] | None = None,
        histories: Sequence[str] | None = None,
        context_format: str = "mimic",
    ) -> ImageFeatures:
        """Encode preprocessed images (B, 3, S, S) with their views and optional clinical context.

        ``context_format`` (keyword; implementations that have no context may omit it): ``"mimic"``
        (indication + history with role tags) or ``"srrg"`` (history only; structured reports)."""
        ...

    def encode_texts(self, texts: Sequence[str], kind: str = "report") -> Tensor:
        """(B, D) pooled embeddings of texts; ``kind`` is "report", "transcript" or "prompt"."""
        ...

    def patch_text_similarity(self, pixel_values: Tensor, views: Sequence[str], texts: Sequence[str]) -> Tensor:
        """(B, P) similarity of text b with every patch of image b (what the gaze loss trains)."""
        ...
