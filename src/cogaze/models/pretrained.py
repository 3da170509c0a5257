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
from cogaze.errors import ConfigError
from cogaze.models.backbones import BackboneConfig, PreprocessConfig
from cogaze.models.cogaze import CoGazeModel, ModelConfig
from cogaze.models.hub import model_file, where
from cogaze.models.interface import ImageFeatures
from cogaze.models.tokenizer import REPORT_PREFIX, TRANSCRIPT_PREFIX, context_string

# Random-init (config-built) vision backbones have no processor config: images are scaled to [0, 1]
# and normalised with these fixed statistics (recorded here so training and inference agree). A
# pretrained backbone never gets them: its own processor config, or explicit model.vision.preprocess.
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.25, 0.25, 0.25)


def image_geometry(config: ModelConfig) -> ImageGeometry:
    """The preprocessing a model expects (size, centre crop, mean, std).

    In order: ``model.vision.preprocess`` when set (all of size, mean and std); the backbone's own
    ``preprocessor_config.json`` (local folder or Hugging Face cache); for a random-init backbone (no
    source) its config's image size with :data:`DEFAULT_MEAN` / :data:`DEFAULT_STD`. A pretrained backbone
    without a processor config is refused with the keys to set, never normalised with a guess.
    """
    vision = config.vision
    explicit = vision.preprocess
    if explicit.is_set():
        return _same_size(_explicit_geometry(explicit), vision, "model.vision.preprocess")
    if vision.source:
        found = model_file(vision.source, "preprocessor_config.json")
        if found is not None:
            return _same_size(ImageGeometry.from_processor_config(found), vision, found)
        legacy = _cogaze_backbone_geometry(vision.source)
        if legacy is not None:
            return legacy
        raise ConfigError(
            f"model.vision.source {vision.source}: no preprocessor_config.json in {where(vision.source)}. cogaze "
            "needs the preprocessing the backbone was trained with and never guesses it: the resize size, the "
            "centre-crop size, and the per-channel mean and std (pixels scaled to [0, 1]). Put the backbone's "
            "preprocessor_config.json beside its weights, or set them: model.vision.preprocess.size=S "
            "model.vision.preprocess.crop=S 'model.vision.preprocess.mean=[m,m,m]' "
            "'model.vision.preprocess.std=[s,s,s]' (docs/checkpoints.md)")
    size = int(vision.config.get("image_size", 0) or 0)
    if size <= 0:
        from cogaze.models.backbones import _config, image_size_of

        size = image_size_of(_config(vision))
    return ImageGeometry(size=size, mean=DEFAULT_MEAN, std=DEFAULT_STD)


def _same_size(geometry: ImageGeometry, vision: BackboneConfig, found: Path | str) -> ImageGeometry:
    """The processor's size must be the backbone config's image_size (the patch grid is computed from it)."""
    from cogaze.models.backbones import _config

    expected = getattr(_config(vision), "image_size", None)
    if isinstance(expected, (list, tuple)):
        expected = expected[0]
    if expected and int(expected) != geometry.size:
        raise ConfigError(f"{found}: the processor crops {geometry.size} px but the backbone config says image_size "
                          f"{expected}: set model.vision.config.image_size={geometry.size} (or fix the processor config)")
    return geometry


def _explicit_geometry(pre: PreprocessConfig) -> ImageGeometry:
    """``model.vision.preprocess`` as a geometry; every value must be given."""
    missing = [k for k, v in (("size", pre.size), ("mean", pre.mean), ("std", pre.std)) if not v]
    if missing:
        raise ConfigError(f"model.vision.preprocess: {', '.join(missing)} not set; give size, crop, mean and std "
                          "together (or none, to read the backbone's preprocessor_config.json)")
    if pre.crop and pre.crop != pre.size:
        raise ConfigError(f"model.vision.preprocess.crop={pre.crop} must equal size={pre.size}: cogaze resizes the "
                          "shortest edge to S and centre-crops S x S")
    if any(len(v) not in (1, 3) for v in (pre.mean, pre.std)):
        raise ConfigError("model.vision.preprocess.mean and .std take 1 or 3 values each")
    mean = tuple(pre.mean) * 3 if len(pre.mean) == 1 else tuple(pre.mean)
    std = tuple(pre.std) * 3 if len(pre.std) == 1 else tuple(pre.std)
    try:
        return ImageGeometry(size=int(pre.size), mean=mean, std=std)  # type: ignore[arg-type]
    except ValueError as err:
        raise ConfigError(f"model.vision.preprocess: {err}") from None


def _cogaze_backbone_geometry(source: str) -> ImageGeometry | None:
    """A folder written by ``cogaze backbone train`` before it saved a processor config: its train_config.yaml."""
    folder = Path(source)
    if not (folder / "backbone_train.json").is_file() or not (folder / "train_config.yaml").is_file():
        return None
    import yaml

    from cogaze.models.backbones import image_size_of

    try:
        cfg = yaml.safe_load((folder / "train_config.yaml").read_text(encoding="utf-8")) or {}
        from transformers import AutoConfig

        size = image_size_of(AutoConfig.from_pretrained(str(folder)))
        return ImageGeometry(size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise ConfigError(f"{folder / 'train_config.yaml'}: cannot read the backbone's mean/std: {err}") from None


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

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (inputs are moved there)."""
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> PretrainedCoGaze:
        """Move the model to ``device`` (in place); returns self."""
        self.model.to(device)
        self._last_image = None
        return self

    # -- helpers ------------------------------------------------------------------------------------
    def _tok(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding="longest", truncation=True,
                             max_length=self.model.config.max_text_length, return_tensors="pt",
                             add_special_tokens=False)
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _views(self, views: Sequence[str], n: int) -> torch.Tensor:
        if len(views) != n:
            raise ValueError(f"got {len(views)} views for {n} images")
        return torch.tensor([view_index(v) for v in views], dtype=torch.long, device=self.device)

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
        x_all = self._patch_tokens(pixel_values.to(self.device), views)
        inds = list(indications) if indications is not None else [""] * n
        hists = list(histories) if histories is not None else [""] * n
        ctx = [context_string(i, h, context_format) for i, h in zip(inds, hists)]
        ids, mask = self._tok([c for c, _ in ctx])
        has_ctx = torch.tensor([h for _, h in ctx], dtype=torch.bool, device=self.device) & self.model.config.use_context
        ctx_feats = self.model.encode_text(ids, mask)
        latents, context_latents = self.model.encoder(x_all, ctx_feats, mask, has_ctx)
        pooled = latents.mean(1)
        return ImageFeatures(pooled=pooled, latents=latents, patches=x_all[:, 1:], grid=self.grid,
                             logits=self.model.heads.vision(pooled), context_latents=context_latents)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], kind: str = "report") -> torch.Tensor:
        if kind == "transcript":
            ids, mask = self._tok([TRANSCRIPT_PREFIX + t for t in texts])
            return self.model.encode_transcripts(ids, mask)
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
        """(B, P) scaled cosine of transcript features (``model.transcript_pool``) with patch features: the gaze
        loss's logits."""
        if len(texts) != len(pixel_values):
            raise ValueError(f"got {len(texts)} texts for {len(pixel_values)} images")
        n = len(pixel_values)
        pixel_values = pixel_values.to(self.device)
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
