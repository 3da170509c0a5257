"""Limits and sizes of the server (``cogaze serve`` options), one frozen dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cogaze.errors import ConfigError


@dataclass(frozen=True)
class ServeSettings:
    """What the server accepts and how it batches. Checked on construction (ConfigError)."""

    max_upload_mb: float = 50.0
    """Largest upload accepted (413 above)."""
    max_megapixels: float = 36.0
    """Largest image accepted, width x height (x frames) in millions of pixels, read from the header
    before any pixel is decoded (413 above): a small file that expands to a huge image (a decompression
    bomb) is refused without the memory it would take."""
    max_queue: int = 64
    """Requests waiting for the model beyond this get 503 with Retry-After."""
    max_batch: int = 16
    """Most images the model runs together."""
    max_wait_ms: float = 20.0
    """Under concurrent load, how long the model thread waits for more requests to fill a batch."""
    display_side: int = 512
    """Longer side of the image, overlays and maps returned to the page (pixels)."""
    max_text_chars: int = 4000
    """Longest indication / history accepted."""

    def __post_init__(self) -> None:
        checks = {"max_upload_mb": self.max_upload_mb > 0, "max_megapixels": self.max_megapixels > 0,
                  "max_queue": self.max_queue >= 1, "max_batch": self.max_batch >= 1,
                  "max_wait_ms": self.max_wait_ms >= 0, "display_side": self.display_side >= 16,
                  "max_text_chars": self.max_text_chars >= 1}
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid server settings: {', '.join(bad)}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
