"""The three pretraining losses (spec 3) and their ablation variants.

* :func:`contrastive_loss` - hybrid-positive (study-level) symmetric InfoNCE (spec 3.1).
* :func:`class_balanced_weights`, :func:`classification_loss` - class-balanced weighted BCE (the
  reference's default) or focal (the paper's, gamma 0.2) behind one switch (spec 3.2).
* :func:`gaze_loss` - soft gaze guidance, bidirectional Jensen-Shannon with top-rho targets (spec 3.3),
  computed for every gaze reading of a batch in one padded, masked tensor operation. Variants: binary
  mask BCE (EGMA), MSE and soft IoU between the same target/prediction distributions.

Hand-written because no library implements these exact objectives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cogaze.config import help_field

EPS = 1e-8
GAZE_KINDS = ("js", "bce_mask", "mse", "iou", "none")


@dataclass
class LossConfig:
    """Loss switches and weights."""

    cls_loss: str = help_field("bce", "Classification loss: 'bce' (class-balanced weighted BCE, code) or 'focal' (paper).")
    focal_gamma: float = help_field(0.2, "Focal exponent gamma (cls_loss=focal).", ge=0)
    beta: float = help_field(0.9999, "Effective-number beta of the class-balanced weights.", ge=0, lt=1)
    positive_counts: list[float] = help_field(
        help="Per-class training positive counts n_c; empty = computed from the train samples.",
        default_factory=list, ge=0,
    )
    single_positive: bool = help_field(False, "Ablation: contrastive targets = identity (CLIP).")
    gaze: str = help_field("js", f"Gaze loss: one of {', '.join(GAZE_KINDS)} ('none' = no gaze term).")
    gaze_rho: float = help_field(0.25, "Top-rho fraction of non-zero heatmap entries kept per row.", gt=0, le=1)
    w_t2p: float = help_field(0.2, "Weight of the transcript->patch direction (code default, the paper).", ge=0)
    w_p2t: float = help_field(0.8, "Weight of the patch->transcript direction (code default, the paper).", ge=0)
    cls_weight: float = help_field(0.5, "Weight of each modality's classification loss.", ge=0)
    gaze_weight: float = help_field(
        1.0, "Weight of the gaze term in the total loss (paper: 1). configs/pretrain/phantom-tiny.yaml uses 20: "
        "at 1 the contrastive and classification terms take the shared projectors and text trunk, and 8 short "
        "epochs leave every sentence with the same map (docs/gaze_grounding.md).", ge=0)

    def __post_init__(self) -> None:
        from cogaze.errors import ConfigError

        if self.cls_loss not in ("bce", "focal"):
            raise ConfigError(f"loss.cls_loss must be 'bce' or 'focal', got {self.cls_loss!r}")
        if self.gaze not in GAZE_KINDS:
            raise ConfigError(f"loss.gaze must be one of {GAZE_KINDS}, got {self.gaze!r}")


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor,
                     study_index: torch.Tensor, single_positive: bool = False) -> torch.Tensor:
    """Symmetric soft-target InfoNCE; targets = same-study indicator, row-normalised."""
    image = F.normalize(image, dim=-1)
    text = F.normalize(text, dim=-1)
    logits = scale * image @ text.t()
    if single_positive:
        target = torch.eye(len(image), device=image.device, dtype=logits.dtype)
    else:
        same = (study_index[:, None] == study_index[None, :]).to(logits.dtype)
        target = same / same.sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def class_balanced_weights(positive_counts: Sequence[float] | torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """Effective-number weights w_c = C * w~_c / sum w~, w~_c = (1-beta)/(1-beta^n_c+1e-8)."""
    n = torch.as_tensor(positive_counts, dtype=torch.float64)
    raw = (1 - beta) / (1 - torch.pow(torch.tensor(beta, dtype=torch.float64), n) + 1e-8)
    return (len(n) * raw / raw.sum()).float()


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                        kind: str = "bce", gamma: float = 0.2) -> torch.Tensor:
    """mean_{i,c} w_c * BCE (``bce``) or w_c * (1-p_t)^gamma * BCE (``focal``, p_t clamped to [1e-8, 1])."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if kind == "focal":
        pt = torch.exp(-bce).clamp(EPS, 1.0)
        bce = (1 - pt) ** gamma * bce
    return (weights * bce).mean()


def topk_fraction_mask(g: torch.Tensor, rho: float) -> torch.Tensor:
    """Per last-axis row, mask of the k = max(1, floor(rho * nnz)) largest entries (nnz: entries > 1e-8).

    Vectorised top-k with a per-row k: rank every entry by a stable descending sort, keep rank < k.
    """
    nnz = (g > EPS).sum(-1)
    k = torch.clamp((nnz.to(torch.float32) * rho).long(), min=1)
    order = torch.argsort(g, dim=-1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(-1, order, torch.arange(g.shape[-1], device=g.device).expand_as(order))
    return ranks < k[..., None]


def _js(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    m = 0.5 * (p + q) + EPS
    log_m = torch.log(m)
    return 0.5 * ((p * (torch.log(p + EPS) - log_m)).sum(-1) + (q * (torch.log(q + EPS) - log_m)).sum(-1))


def _mse(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return ((p - q) ** 2).mean(-1)


def _iou(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return 1 - torch.minimum(p, q).sum(-1) / (torch.maximum(p, q).sum(-1) + EPS)


_DIVERGENCES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"js": _js, "mse": _mse, "iou": _iou}


def _direction(logits: torch.Tensor, maps: torch.Tensor, cols: torch.Tensor, rho: float, kind: str) -> torch.Tensor:
    """Per-reading mean divergence over valid rows. logits/maps (R, N, K); cols (R, 1|N, K) real columns."""
    kept = maps * topk_fraction_mask(maps, rho)
    mass = kept.sum(-1, keepdim=True)
    valid = mass.squeeze(-1) > EPS  # (R, N)
    p = kept / (mass + EPS)
    q = torch.softmax(logits.masked_fill(~cols, float("-inf")), dim=-1)
    q = torch.nan_to_num(q, nan=0.0)  # rows that are entirely padding
    d = _DIVERGENCES[kind](p, q) * valid
    n_valid = valid.sum(-1)
    return d.sum(-1) / n_valid.clamp(min=1)


@dataclass
class GazeBatch:
    """Readings of a batch laid out in one padded tensor (built by :func:`pad_readings`)."""

    row_index: torch.Tensor  # (R, N) index into the G gaze rows (0 where padding)
    row_valid: torch.Tensor  # (R, N) bool
    owner: torch.Tensor  # (R,) batch index of each reading's image


def pad_readings(gaze_owner: torch.Tensor, gaze_reading: torch.Tensor) -> GazeBatch:
    """Group the G rows by ``gaze_reading`` into (R, N) padded index tensors (no Python loop over rows)."""
    readings, inverse, counts = torch.unique(gaze_reading, return_inverse=True, return_counts=True)
    r, n = len(readings), int(counts.max())
    order = torch.argsort(inverse, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(len(order), device=order.device) - starts[inverse[order]]
    row_index = torch.zeros(r, n, dtype=torch.long, device=order.device)
    row_valid = torch.zeros(r, n, dtype=torch.bool, device=order.device)
    row_index[inverse[order], pos] = order
    row_valid[inverse[order], pos] = True
    owner = torch.zeros(r, dtype=torch.long, device=order.device)
    owner[inverse] = gaze_owner
    if not bool((owner[inverse] == gaze_owner).all()):
        raise ValueError("gaze rows of one reading belong to different images (gaze_owner/gaze_reading disagree)")
    return GazeBatch(row_index, row_valid, owner)


def gaze_loss(text_feats: torch.Tensor, patch_feats: torch.Tensor, maps: torch.Tensor, gaze_owner: torch.Tensor,
              gaze_reading: torch.Tensor, scale: torch.Tensor, rho: float = 0.25, w_t2p: float = 0.2,
              w_p2t: float = 0.8, kind: str = "js") -> torch.Tensor | None:
    """Soft gaze guidance over all readings of a batch; None when no reading has a non-empty heatmap.

    ``text_feats`` (G, d) transcript [CLS] features, ``patch_feats`` (B, P, d) projected patches (CLS
    excluded), ``maps`` (G, P) non-negative heatmaps. Rows are grouped per reading; a reading's loss is
    w_t2p * D(transcript->patch) + w_p2t * D(patch->transcript); the batch loss is the mean over
    readings that have at least one non-empty row (empty rows are ignored).
    """
    if len(maps) == 0 or kind == "none":
        return None
    maps = maps.to(patch_feats.dtype).clamp(min=0)
    gb = pad_readings(gaze_owner, gaze_reading)
    t = F.normalize(text_feats, dim=-1)[gb.row_index]  # (R, N, d)
    x = F.normalize(patch_feats, dim=-1)[gb.owner]  # (R, P, d)
    logits = scale * t @ x.transpose(1, 2)  # (R, N, P)
    g = maps[gb.row_index] * gb.row_valid[..., None]  # (R, N, P), padding rows zero
    has_mass = (g > EPS).flatten(1).any(-1)  # (R,)
    if not bool(has_mass.any()):
        return None
    rows = gb.row_valid[..., None]  # (R, N, 1)
    if kind == "bce_mask":
        target = (g != 0).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * rows
        per = bce.flatten(1).sum(-1) / (rows.flatten(1).sum(-1) * logits.shape[-1])
        per = (w_t2p + w_p2t) * per  # both directions average the same entries
    else:
        all_cols = torch.ones_like(logits[:, :1, :], dtype=torch.bool)
        t2p = _direction(logits, g, all_cols, rho, kind)
        p2t = _direction(logits.transpose(1, 2), g.transpose(1, 2), gb.row_valid[:, None, :], rho, kind)
        per = w_t2p * t2p + w_p2t * p2t
    return (per * has_mass).sum() / has_mass.sum()
