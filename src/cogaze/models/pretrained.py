"""A trained CoGaze run as the :class:`~cogaze.models.interface.VisionLanguageEncoder` downstream tasks use.

``cogaze.tasks.pretrain.pretrained.load_pretrained(run_dir)`` rebuilds the model from the run's ``config.yaml``, loads the best (or
last) checkpoint's safetensors weights and the run's tokenizer, and exposes image/text encoding, the
transcript->patch similarity the gaze loss trains, and the image geometry the model expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from cogaze.data.geometry import ImageGeometry
from cogaze.data.records import view_index
from cogaze.models.cogaze import CoGazeModel, ModelConfig
from cogaze.models.interface import ImageFeatures
from cogaze.models.tokenizer import REPORT_PREFIX, TRANSCRIPT_PREFIX, context_string

# Random-init (config-built) vision backbones have no processor config: images are scaled to [0, 1]
# and normalised with these fixed statistics (recorded here so training and inference agree).
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.25, 0.25, 0.25)


def image_geometry(config: ModelConfig) -> ImageGeometry:
    """The preprocessing a model expects: its processor config when it has one, else fixed defaults."""
    source = Path(config.vision.source) if config.vision.source else None
    if source is not None and (source / "preprocessor_config.json").is_file():
        return ImageGeometry.from_processor_config(source)
    size = int(config.vision.config.get("image_size", 0) or 0)
    if size <= 0:
        from cogaze.models.backbones import _config, image_size_of

        size = image_size_of(_config(config.vision))
    return ImageGeometry(size=size, mean=DEFAULT_MEAN, std=DEFAULT_STD)


def patch_grid(config: ModelConfig) -> int:
    """Side of the vision encoder's patch grid (image_size // patch size or conv output stride)."""
    from cogaze.models.backbones import _config, patch_grid_side

    return patch_grid_side(_config(config.vision))


class PretrainedCoGaze:
    """A CoGaze model in eval mode behind the encoder interface of docs/encoder.md."""

    def __init__(self, model: CoGazeModel, tokenizer: Any, geometry: ImageGeometry, run_dir: Path | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.geometry = geometry
        self.run_dir = run_dir
        self.embed_dim = int(model.config.dim)
        self.image_size = int(geometry.size)
        self.grid = patch_grid(model.config)
        # patch_text_similarity already returns exp(s2) * cosine (the gaze loss's logits): the gaze
        # map is their plain softmax (read by cogaze.explain.predict).
        self.gaze_temperature = 1.0
        # The last single image's patch tokens (pixels, views, weights version, tokens): gaze
        # evaluation and sentence grounding score many texts on one image, one call each.
        self._last_image: tuple[torch.Tensor, tuple[str, ...], int, torch.Tensor] | None = None

    # -- helpers ------------------------------------------------------------------------------------
    def _tok(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding="longest", truncation=True,
                             max_length=self.model.config.max_text_length, return_tensors="pt",
                             add_special_tokens=False)
        return enc["input_ids"], enc["attention_mask"]

    def _views(self, views: Sequence[str], n: int) -> torch.Tensor:
        if len(views) != n:
            raise ValueError(f"got {len(views)} views for {n} images")
        return torch.tensor([view_index(v) for v in views], dtype=torch.long)

    def _patch_tokens(self, pixel_values: torch.Tensor, views: Sequence[str]) -> torch.Tensor:
        feats = self.model.encode_images(pixel_values)
        ids = self._views(views, len(pixel_values)).clamp(0, self.model.config.num_views - 1)
        return self.model.encoder.vision_projector(feats.to(self.model.encoder.shared_latent.dtype), ids)

    # -- the interface ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_images(self, pixel_values: torch.Tensor, views: Sequence[str],
                      indications: Sequence[str] | None = None,
                      histories: Sequence[str] | None = None, context_format: str = "mimic") -> ImageFeatures:
        n = len(pixel_values)
        x_all = self._patch_tokens(pixel_values, views)
        inds = list(indications) if indications is not None else [""] * n
        hists = list(histories) if histories is not None else [""] * n
        ctx = [context_string(i, h, context_format) for i, h in zip(inds, hists)]
        ids, mask = self._tok([c for c, _ in ctx])
        has_ctx = torch.tensor([h for _, h in ctx], dtype=torch.bool) & self.model.config.use_context
        ctx_feats = self.model.encode_text(ids, mask)
        latents, _ = self.model.encoder(x_all, ctx_feats, mask, has_ctx)
        pooled = latents.mean(1)
        return ImageFeatures(pooled=pooled, latents=latents, patches=x_all[:, 1:], grid=self.grid,
                             logits=self.model.heads.vision(pooled))

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], kind: str = "report") -> torch.Tensor:
        if kind == "transcript":
            ids, mask = self._tok([TRANSCRIPT_PREFIX + t for t in texts])
            return self.model.encode_text(ids, mask)[:, 0]
        if kind not in ("report", "prompt"):
            raise ValueError(f"text kind must be report, prompt or transcript, got {kind!r}")
        ids, mask = self._tok([REPORT_PREFIX + t for t in texts])
        tokens = self.model.encode_text(ids, mask)
        if self.model.config.masked_report_pool:
            m = mask.to(tokens.dtype)[..., None]
            return (tokens * m).sum(1) / m.sum(1).clamp(min=1)
        return tokens.mean(1)

    def _one_image_tokens(self, pixel_values: torch.Tensor, views: Sequence[str]) -> torch.Tensor:
        """Patch tokens of one image, or of a batch repeating it (a stride-0 expand), under one view: encoded once,
        and reused while the same pixels, view and weights come again."""
        pixels, key = pixel_values[:1], tuple(views[:1])
        version = sum(p._version for p in self.model.parameters())
        last = self._last_image
        if last is None or last[1] != key or last[2] != version or not torch.equal(last[0], pixels):
            last = (pixels.clone(), key, version, self._patch_tokens(pixels, key))
            self._last_image = last
        return last[3].expand(len(pixel_values), -1, -1)

    @torch.no_grad()
    def patch_text_similarity(self, pixel_values: torch.Tensor, views: Sequence[str],
                              texts: Sequence[str]) -> torch.Tensor:
        """(B, P) scaled cosine of transcript [CLS] features with patch features: the gaze loss's logits."""
        if len(texts) != len(pixel_values):
            raise ValueError(f"got {len(texts)} texts for {len(pixel_values)} images")
        n = len(pixel_values)
        if n and (n == 1 or pixel_values.stride(0) == 0) and len(set(views)) == 1:
            tokens = self._one_image_tokens(pixel_values, views)
        else:
            tokens = self._patch_tokens(pixel_values, views)
        patches = F.normalize(tokens[:, 1:], dim=-1)
        t = F.normalize(self.encode_texts(texts, kind="transcript"), dim=-1)
        return self.model.heads.scale("gaze") * torch.einsum("bd,bpd->bp", t, patches)

    def predict_diseases(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid probabilities of the vision classifier."""
        return torch.sigmoid(logits)
