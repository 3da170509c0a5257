"""Where the model would look: gaze maps, sentence grounding and scanpaths from any encoder.

Everything goes through :class:`cogaze.models.interface.VisionLanguageEncoder` (docs/encoder.md):

* the map for a text is the transcript->patch similarity the gaze loss trains (spec 3.3):
  ``patch_text_similarity`` (cosine), then a softmax over all patches with temperature ``T``,
  ``q = softmax(sim / T)``. ``T`` defaults to the encoder's ``gaze_temperature`` attribute when it
  has one (the adapter may expose ``1 / exp(s2)``), else :data:`DEFAULT_TEMPERATURE` = 0.07, the
  value s2 is initialised to (ln(1/0.07), spec 2.6);
* without a text, the map is the mean of the maps of :data:`DEFAULT_PROMPTS`, one short finding
  sentence per CheXbert pathology: an "anywhere a finding could be" map that needs no report;
* the patch map is mapped back onto the original image by :mod:`cogaze.explain.backproject`
  (regions the centre crop cut away get zero).

Clinical context: in CoGaze the indication/history enter the Perceiver only, after the patch
features X^p that the gaze loss aligns with transcripts (spec 2.2, 2.5), so they cannot change the
map; ``indication`` / ``history`` are recorded with the prediction for provenance.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch

from cogaze.data.geometry import ImageGeometry, pool_to_grid
from cogaze.data.records import CHEXPERT_CLASSES, NEGATIVE, POSITIVE, UNCERTAIN, parse_view
from cogaze.explain.backproject import Interpolation, crop_box, patch_centre, patch_map_to_image
from cogaze.explain.scanpath import DurationModel, Fixation, sample_scanpath, to_image_coords
from cogaze.metrics.labeler import label_sentence, split_sentences
from cogaze.models.interface import VisionLanguageEncoder

DEFAULT_TEMPERATURE = 0.07
"""Softmax temperature of the gaze map when the encoder exposes none (spec 2.6 initial value)."""

DEFAULT_PROMPTS: tuple[str, ...] = (
    "The cardiomediastinal silhouette is widened.",
    "The heart is enlarged.",
    "There is an opacity in the lung.",
    "There is a nodule in the lung.",
    "There is pulmonary edema.",
    "There is a consolidation.",
    "There is pneumonia.",
    "There is atelectasis.",
    "There is a pneumothorax.",
    "There is a pleural effusion.",
    "There is pleural thickening.",
    "There is a rib fracture.",
    "A support device is in place.",
)
"""Texts whose mean map is the text-free (paragraph-level) prediction: one per CheXbert pathology."""

STATE_NAMES = {POSITIVE: "positive", NEGATIVE: "negative", UNCERTAIN: "uncertain"}


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image passed through the geometry once: (1, 3, S, S) pixel values and its original size."""

    pixels: torch.Tensor
    image_size: tuple[int, int]
    """(width, height) of the original image."""


def prepare_image(image: np.ndarray | PreparedImage, geometry: ImageGeometry) -> PreparedImage:
    """A uint8 (H, W) grayscale (or (H, W, 3)) array -> :class:`PreparedImage` (resize + crop + normalise)."""
    if isinstance(image, PreparedImage):
        return image
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) == 0:
        raise ValueError(f"images must have shape (H, W) or (H, W, 3), got {arr.shape}")
    pixels = torch.from_numpy(geometry.transform_image(arr)).unsqueeze(0)
    return PreparedImage(pixels, (int(arr.shape[1]), int(arr.shape[0])))


@dataclass(frozen=True, eq=False)
class GazePrediction:
    """A predicted gaze map: the patch-grid softmax and its projection onto the original image."""

    text: str | None
    """The text the map is for (None: the text-free map over :attr:`prompts`)."""
    prompts: tuple[str, ...]
    """The texts scored (``(text,)`` when a text was given)."""
    similarity: np.ndarray
    """(grid, grid) cosine similarity (mean over prompts for the text-free map)."""
    patch_map: np.ndarray
    """(grid, grid) softmax probabilities over patches (sum 1)."""
    image_size: tuple[int, int]
    """(width, height) of the original image."""
    geometry: ImageGeometry
    temperature: float
    view: str = "UNKNOWN"
    indication: str = ""
    history: str = ""
    interpolation: Interpolation = "bilinear"
    findings: dict[str, str] = field(default_factory=dict)
    """CheXbert findings the text mentions, class -> "positive" / "uncertain" / "negative"."""

    @property
    def grid(self) -> int:
        return int(self.patch_map.shape[0])

    def render(self, out_size: tuple[int, int] | None = None, dtype: type = np.float64) -> np.ndarray:
        """(H_out, W_out) map over the original image frame (default: original size), sum 1."""
        return patch_map_to_image(self.patch_map, self.geometry, self.image_size, out_size, self.interpolation,
                                  dtype=dtype)

    @cached_property
    def heatmap(self) -> np.ndarray:
        """(H, W) float32 map at the original resolution, sum 1; zero where the crop cut the image."""
        return self.render(dtype=np.float32)

    @property
    def peak(self) -> tuple[float, float]:
        """(x, y) original-image pixels of the centre of the most probable patch."""
        r, c = divmod(int(np.argmax(self.patch_map)), self.grid)
        return patch_centre(self.geometry, self.image_size, self.grid, r, c)

    @property
    def crop_box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) original-image pixels the encoder saw; outside it the map is zero."""
        return crop_box(self.geometry, self.image_size)

    def summary_grid(self, side: int = 8) -> np.ndarray:
        """(side, side) probabilities over the original image frame (rows top to bottom), sum 1."""
        w, h = self.image_size
        scale = min(1.0, 256 / max(w, h))
        raster = self.render((max(side, round(w * scale)), max(side, round(h * scale))))
        small = pool_to_grid(raster, side)
        total = small.sum()
        return small / total if total > 0 else small


def _temperature(encoder: VisionLanguageEncoder, temperature: float | None) -> float:
    t = temperature if temperature is not None else getattr(encoder, "gaze_temperature", DEFAULT_TEMPERATURE)
    t = float(t)
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a positive number, got {t!r}")
    return t


def _geometry(encoder: VisionLanguageEncoder, geometry: ImageGeometry | None) -> ImageGeometry:
    """The given geometry, else the encoder's own (its resize, crop and normalisation), else a plain resize
    for encoders that declare none. Never a plain resize for an encoder that normalises: un-normalised
    pixels give maps that look plausible and are wrong (every sentence peaking at the image's top edge)."""
    own = getattr(encoder, "geometry", None)
    geo = geometry if geometry is not None else own if isinstance(own, ImageGeometry) else \
        ImageGeometry(size=int(encoder.image_size))
    if geo.size != int(encoder.image_size):
        raise ValueError(f"geometry size {geo.size} does not match the encoder's image size {encoder.image_size}")
    return geo


def _similarities(encoder: VisionLanguageEncoder, prepared: PreparedImage, view: str,
                  texts: Sequence[str]) -> np.ndarray:
    """(len(texts), P) cosine similarities of each text with the image's patches, one batch."""
    pixels = prepared.pixels.expand(len(texts), -1, -1, -1)
    with torch.no_grad():
        raw = encoder.patch_text_similarity(pixels, [view] * len(texts), list(texts))
    sim = np.asarray(raw.detach().to(torch.float64).cpu().numpy() if isinstance(raw, torch.Tensor) else raw,
                     dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] != len(texts):
        raise ValueError(f"patch_text_similarity returned shape {sim.shape}, expected ({len(texts)}, P)")
    side = int(round(np.sqrt(sim.shape[1])))
    if side * side != sim.shape[1] or not np.all(np.isfinite(sim)):
        raise ValueError(f"patch_text_similarity must return finite values on a square grid, got {sim.shape[1]} patches")
    return sim


def _softmax(sim: np.ndarray, temperature: float) -> np.ndarray:
    z = sim / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict_gazes(encoder: VisionLanguageEncoder, image: np.ndarray | PreparedImage,
                  texts: Sequence[str | None], view: str = "UNKNOWN", indication: str = "", history: str = "",
                  geometry: ImageGeometry | None = None, temperature: float | None = None,
                  prompts: Sequence[str] = DEFAULT_PROMPTS,
                  interpolation: Interpolation = "bilinear") -> list[GazePrediction]:
    """One :class:`GazePrediction` per text (None = the text-free map), scored in one encoder batch."""
    geo = _geometry(encoder, geometry)
    t = _temperature(encoder, temperature)
    view = parse_view(view)
    prepared = prepare_image(image, geo)
    texts = list(texts)
    if not prompts and any(x is None for x in texts):
        raise ValueError("the text-free map needs at least one prompt")
    for x in texts:
        if x is not None and not str(x).strip():
            raise ValueError("an empty text has no gaze map; pass None for the text-free map")
    batch = [str(x) for x in texts if x is not None] + (list(prompts) if None in texts else [])
    sim = _similarities(encoder, prepared, view, batch)
    grid = int(round(np.sqrt(sim.shape[1])))
    probs = _softmax(sim, t)
    n_text = sum(x is not None for x in texts)
    out: list[GazePrediction] = []
    k = 0
    for x in texts:
        if x is None:
            s, p, used = sim[n_text:].mean(axis=0), probs[n_text:].mean(axis=0), tuple(prompts)
        else:
            s, p, used = sim[k], probs[k], (str(x),)
            k += 1
        out.append(GazePrediction(
            text=x, prompts=used, similarity=s.reshape(grid, grid), patch_map=p.reshape(grid, grid),
            image_size=prepared.image_size, geometry=geo, temperature=t, view=view, indication=indication,
            history=history, interpolation=interpolation, findings=mentioned_findings(x) if x else {}))
    return out


def predict_gaze(encoder: VisionLanguageEncoder, image: np.ndarray | PreparedImage, text: str | None = None,
                 indication: str = "", history: str = "", view: str = "UNKNOWN",
                 geometry: ImageGeometry | None = None, temperature: float | None = None,
                 prompts: Sequence[str] = DEFAULT_PROMPTS,
                 interpolation: Interpolation = "bilinear") -> GazePrediction:
    """The predicted gaze map of ``image`` for ``text`` (a sentence or finding, used as a transcript)
    or, without text, the mean map over ``prompts``. ``geometry`` must be the encoder's (its size is
    checked; default: the encoder's ``geometry``, or ``ImageGeometry(encoder.image_size)`` for an encoder
    without one)."""
    return predict_gazes(encoder, image, [text], view, indication, history, geometry, temperature, prompts,
                         interpolation)[0]


def mentioned_findings(sentence: str) -> dict[str, str]:
    """CheXbert classes a sentence mentions with their state (positive > uncertain > negative),
    from the rule labeler (:func:`cogaze.metrics.labeler.label_sentence`)."""
    states: dict[str, set[int]] = {}
    for part in split_sentences(sentence):
        for cls, state in label_sentence(part):
            states.setdefault(cls, set()).add(state)
    out: dict[str, str] = {}
    for cls in CHEXPERT_CLASSES:
        for state in (POSITIVE, UNCERTAIN, NEGATIVE):
            if state in states.get(cls, ()):
                out[cls] = STATE_NAMES[state]
                break
    return out


_HOLD = "\u2024"  # stands in for an abbreviation's full stop while splitting
_ABBREV_RE = re.compile(r"\b(?:dr|mr|mrs|ms|vs|approx|e\.g|i\.e|a\.m|p\.m)\.", re.IGNORECASE)
_LIST_RE = re.compile(r"(?:^|[\n:])\s*\(?1[.)]\s")
_ITEM_INLINE_RE = re.compile(r"(?<=\s)\(?\d{1,2}[.)]\s+(?=[A-Z])")
_ITEM_START_RE = re.compile(r"^\(?\d{1,2}[.)]\s+")
_NUMBER_END_RE = re.compile(r"(?<=\d)\.\s+(?=[A-Z])")


def report_sentences(report: str) -> list[str]:
    """Sentences of a report as the labeler splits them (headers dropped), in their original case.

    Unlike the labeler's split, abbreviations of dictated reports ("Dr. ___", "10:30 a.m.", "e.g.")
    do not end a sentence, and the items of a numbered list ("1. ... 2. ...", also on one line) are
    sentences without their numbers: each sentence gets a gaze map, so fragments would get maps too.
    """
    text = _ABBREV_RE.sub(lambda m: m.group(0).replace(".", _HOLD), report or "")
    if _LIST_RE.search(text):
        text = _ITEM_INLINE_RE.sub("\n", text)
    else:  # no numbered list: "at the level of T12. Stable ..." ends a sentence (the labeler keeps it whole)
        text = _NUMBER_END_RE.sub(".\n", text)
    flat = " ".join(text.split())
    lower, cursor, out = flat.lower(), 0, []
    for sent in split_sentences(text):
        at = lower.find(sent, cursor)
        if at < 0:  # the splitter changed the text (e.g. split a glued word): keep its version
            out.append(sent)
            continue
        out.append(flat[at:at + len(sent)])
        cursor = at + len(sent)
    out = [_ITEM_START_RE.sub("", s.rstrip(".").replace(_HOLD, ".")) for s in out]
    return [s for s in out if re.search(r"\w", s)]


@dataclass(frozen=True, eq=False)
class GroundedSentence:
    """One report sentence, its predicted gaze map and the findings it mentions."""

    sentence: str
    prediction: GazePrediction

    @property
    def heatmap(self) -> np.ndarray:
        return self.prediction.heatmap

    @property
    def findings(self) -> dict[str, str]:
        return self.prediction.findings

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as ``sentence, heatmap``."""
        yield self.sentence
        yield self.heatmap


def ground_report(encoder: VisionLanguageEncoder, image: np.ndarray | PreparedImage, report: str,
                  view: str = "UNKNOWN", indication: str = "", history: str = "",
                  geometry: ImageGeometry | None = None, temperature: float | None = None,
                  interpolation: Interpolation = "bilinear") -> list[GroundedSentence]:
    """One map per sentence of ``report`` (split by :func:`report_sentences`), each with the CheXbert
    findings it mentions: finding-linked localised evidence. An empty report raises ValueError."""
    sentences = report_sentences(report)
    if not sentences:
        raise ValueError("the report has no sentences to ground")
    preds = predict_gazes(encoder, image, sentences, view, indication, history, geometry, temperature,
                          interpolation=interpolation)
    return [GroundedSentence(s, p) for s, p in zip(sentences, preds)]


def scanpath_from_prediction(prediction: GazePrediction, n_fixations: int = 10, ior_radius: float | None = None,
                             seed: int = 0, mode: Literal["greedy", "stochastic"] = "greedy",
                             duration_model: str | DurationModel = "saliency", temperature: float = 1.0,
                             max_side: int = 256) -> list[Fixation]:
    """Fixations (x, y, seconds) in original-image pixels sampled from ``prediction`` with inhibition of
    return (:func:`cogaze.explain.scanpath.sample_scanpath`), on a raster of the image frame whose
    longer side is at most ``max_side``. ``ior_radius`` is in original pixels (default: a tenth of
    the shorter image side, about two degrees of visual angle on a reading screen)."""
    w, h = prediction.image_size
    scale = min(1.0, max_side / max(w, h))
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    raster = prediction.render((out_w, out_h))
    radius = (0.1 * min(w, h) if ior_radius is None else float(ior_radius)) * out_w / w
    path = sample_scanpath(raster, n_fixations, radius, 1.0, seed, duration_model, mode, temperature)
    return to_image_coords(path, (out_h, out_w), (w, h))


def predict_scanpath(encoder: VisionLanguageEncoder, image: np.ndarray | PreparedImage, text: str | None = None,
                     view: str = "UNKNOWN", geometry: ImageGeometry | None = None,
                     temperature: float | None = None, n_fixations: int = 10, ior_radius: float | None = None,
                     seed: int = 0, mode: Literal["greedy", "stochastic"] = "greedy",
                     duration_model: str | DurationModel = "saliency") -> list[Fixation]:
    """An ordered fixation list (x, y, seconds) in original-image pixels sampled from the predicted
    map (:func:`predict_gaze`) with inhibition of return; same arguments and seed, same path."""
    pred = predict_gaze(encoder, image, text, view=view, geometry=geometry, temperature=temperature)
    return scanpath_from_prediction(pred, n_fixations, ior_radius, seed, mode, duration_model)


__all__ = [
    "DEFAULT_PROMPTS",
    "DEFAULT_TEMPERATURE",
    "GazePrediction",
    "GroundedSentence",
    "PreparedImage",
    "ground_report",
    "mentioned_findings",
    "predict_gaze",
    "predict_gazes",
    "predict_scanpath",
    "prepare_image",
    "report_sentences",
    "scanpath_from_prediction",
]
