"""Disease heads and learnable temperatures (spec 2.6)."""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_LOGIT_SCALE = math.log(1 / 0.07)


class DiseaseHeads(nn.Module):
    """Two Linear(d -> C) heads on mean-pooled vision latents / report tokens, and two log-scales.

    ``logit_scale`` (contrastive) and ``logit_scale_gaze`` start at ln(1/0.07); ``clamp`` > 0 caps them
    (spec D22 safety option; 0 = no clamp, as the reference).
    """

    def __init__(self, dim: int, num_classes: int = 14, clamp: float = 0.0):
        super().__init__()
        self.vision = nn.Linear(dim, num_classes)
        self.report = nn.Linear(dim, num_classes)
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))
        self.logit_scale_gaze = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))
        self.clamp = clamp

    def scale(self, which: str = "contrastive") -> torch.Tensor:
        """exp(s) for ``"contrastive"`` or ``"gaze"`` (clamped at exp(clamp) when clamp > 0)."""
        s: torch.Tensor = self.logit_scale if which == "contrastive" else self.logit_scale_gaze
        if self.clamp > 0:
            s = s.clamp(max=self.clamp)
        return s.exp()
