"""Shared task plumbing: checking an encoder against the interface and encoding items in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from cogaze.errors import CogazeError
from cogaze.models.interface import ImageFeatures, VisionLanguageEncoder
from cogaze.tasks.items import ImageItems

_REQUIRED = ("encode_images", "encode_texts", "patch_text_similarity")


def check_encoder(obj: object, device: torch.device | str | None = None) -> VisionLanguageEncoder:
    """``obj`` if it implements :class:`VisionLanguageEncoder`, else a CogazeError naming what is
    missing (e.g. a raw state dict or a checkpoint of another kind was passed)."""
    missing = [name for name in _REQUIRED if not callable(getattr(obj, name, None))]
    missing += [name for name in ("embed_dim", "image_size") if not isinstance(getattr(obj, name, None), int)]
    if missing:
        kind = type(obj).__name__
        raise CogazeError(
            f"expected a vision-language encoder (cogaze.models.interface.VisionLanguageEncoder), got a "
            f"{kind} lacking {', '.join(missing)}; load the checkpoint of a pretrained cogaze model"
        )
    if device is not None and isinstance(obj, nn.Module):
        obj.to(device)  # an nn.Module encoder is moved to the task's device (in place)
    return obj  # type: ignore[return-value]


def batches(n: int, batch_size: int, order: Sequence[int] | None = None) -> Iterator[list[int]]:
    """Index lists of at most ``batch_size`` over ``order`` (default 0..n-1)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    idx = list(range(n)) if order is None else [int(i) for i in order]
    for start in range(0, len(idx), batch_size):
        yield idx[start : start + batch_size]


def context_args(items: ImageItems, idx: Sequence[int]) -> dict[str, list[str] | None]:
    """``indications`` / ``histories`` for encode_images (None where every one is empty)."""
    ctx = [items.contexts[i] for i in idx]
    hist = [items.histories[i] for i in idx]
    return {"indications": ctx if any(ctx) else None, "histories": hist if any(hist) else None}


def encode_batch(encoder: VisionLanguageEncoder, items: ImageItems, idx: Sequence[int],
                 device: torch.device | str = "cpu") -> ImageFeatures:
    """ImageFeatures of the items at ``idx`` (gradients flow if the caller enabled them)."""
    pixels, _ = items.batch(idx)
    ctx = context_args(items, idx)
    return encoder.encode_images(pixels.to(device), [items.views[i] for i in idx],
                                 indications=ctx["indications"], histories=ctx["histories"])


@torch.no_grad()
def encode_items(
    encoder: VisionLanguageEncoder,
    items: ImageItems,
    batch_size: int = 32,
    field: Callable[[ImageFeatures], Tensor] = lambda f: f.pooled,
    device: torch.device | str = "cpu",
) -> Tensor:
    """One feature tensor over all items (default: pooled vision latents), encoder in eval mode."""
    if isinstance(encoder, nn.Module):
        encoder.eval()
    parts = [field(encode_batch(encoder, items, idx, device)).detach().float().cpu()
             for idx in batches(len(items), batch_size)]
    if not parts:
        return torch.zeros(0, encoder.embed_dim)
    return torch.cat(parts)


def l2_normalise(x: Tensor, dim: int = -1) -> Tensor:
    """``x / ||x||`` along ``dim`` (zero vectors stay zero)."""
    return torch.nn.functional.normalize(x.float(), dim=dim)


def set_seed(seed: int) -> torch.Generator:
    """Seed torch and numpy's legacy global state; returns a torch Generator seeded the same."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)
