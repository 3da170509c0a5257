"""The context-infused vision encoder (spec 2.2, 2.5): view embedding, projectors, shared Perceiver.

Context latents come from indication/history for samples that have context and the learned image
latent otherwise. The context branch runs once on the rows that have context (gathered by one index
tensor) and is merged into Z_I with ``index_copy``; the vision pass runs once on the whole batch. Every
sample's result equals the reference's per-subset computation, and every parameter takes part in
every step (a batch without any context runs the context branch on all rows and discards it: DDP-safe).
"""

from __future__ import annotations

import torch
from torch import nn

from cogaze.models.perceiver import Perceiver


class RMSNorm(nn.Module):
    """y = x / (||x||_2 / sqrt(d) + eps) * w (the reference's RMSNorm, eps outside the root)."""

    def __init__(self, dim: int, eps: float = 1e-8):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = x.norm(2, dim=-1, keepdim=True) / (x.shape[-1] ** 0.5)
        return x / (rms + self.eps) * self.weight


def mlp(dim_in: int, dim_hidden: int, dim_out: int) -> nn.Sequential:
    """Linear -> GELU -> Linear."""
    return nn.Sequential(nn.Linear(dim_in, dim_hidden), nn.GELU(), nn.Linear(dim_hidden, dim_out))


class VisionProjector(nn.Module):
    """Add the view embedding to every token (CLS included), RMSNorm, MLP to the shared width."""

    def __init__(self, vision_dim: int, dim: int, num_views: int):
        super().__init__()
        self.view_embedding = nn.Embedding(num_views, vision_dim)  # N(0, 1) init, as the reference
        self.norm = RMSNorm(vision_dim)
        self.mlp = mlp(vision_dim, 2 * dim, dim)

    def forward(self, tokens: torch.Tensor, view_ids: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(tokens + self.view_embedding(view_ids)[:, None, :]))


class ContextVisionEncoder(nn.Module):
    """Projectors + shared Perceiver + shared latent array with context/image type vectors."""

    def __init__(self, vision_dim: int, text_dim: int, dim: int = 768, num_latents: int = 128,
                 depth: int = 3, heads: int = 8, dim_head: int = 64, ff_mult: int = 4,
                 self_per_cross: int = 1, num_views: int = 15, mask_context_padding: bool = False):
        super().__init__()
        self.vision_projector = VisionProjector(vision_dim, dim, num_views)
        self.text_projector = mlp(text_dim, 2 * dim, dim)
        self.perceiver = Perceiver(dim, depth, heads, dim_head, ff_mult, self_per_cross)
        self.shared_latent = nn.Parameter(torch.randn(num_latents, dim))
        self.context_type = nn.Parameter(torch.randn(1, dim))
        self.image_type = nn.Parameter(torch.randn(1, dim))
        self.mask_context_padding = mask_context_padding

    def image_latents(self, batch_size: int) -> torch.Tensor:
        """Z_I = Z + e_img, expanded to (B, m, d)."""
        return (self.shared_latent + self.image_type).expand(batch_size, -1, -1)

    def forward(self, patch_tokens: torch.Tensor, context_tokens: torch.Tensor, context_mask: torch.Tensor,
                has_context: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(vision latents, context latents), each (B, m, d).

        ``patch_tokens`` are the projected vision tokens (B, 1+P, d); ``context_tokens`` the projected
        context text (B, Lc, d), or, when ``rows`` (long indices of the rows with context) is given,
        only those rows' (len(rows), Lc, d). Rows without context use Z_I as queries and as their
        context latents.
        """
        b = patch_tokens.shape[0]
        z_img = self.image_latents(b)
        mask = context_mask if self.mask_context_padding else None
        z_ctx = (self.shared_latent + self.context_type).expand(context_tokens.shape[0], -1, -1)
        ctx_latents = self.perceiver(z_ctx, context_tokens, mask)
        if rows is None:
            queries = torch.where(has_context[:, None, None], ctx_latents, z_img)
        else:
            queries = z_img.index_copy(0, rows, ctx_latents)
        return self.perceiver(queries, patch_tokens), queries
