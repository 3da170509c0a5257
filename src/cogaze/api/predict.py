"""Answers for arbitrary chest X-rays: disease probabilities, a draft report, gaze maps, similar cases.

:func:`load_predictor` loads the models once (a pretraining run, optionally a report-generation run and a
similar-case index); :func:`predict` runs them on a list of :class:`PredictInput` (file paths or the raw
bytes of uploads) in batches and returns one :class:`Prediction` per input, in order. An input that cannot
be read or processed never raises: its ``status`` says why. :func:`write_predictions` (in
``cogaze.api.predict_files``) writes ``predictions.csv`` and one explanation folder per image.

Per readable image:

* ``diseases``: sigmoid of the pretrained model's vision disease head (mean of the vision latents ->
  linear, 14 CheXbert classes) on the image with its view and clinical context;
* ``report``: the draft of the report-generation run (empty when no run is given, with a note saying so);
* ``sentences``: one gaze map per sentence of the draft, ``text_free_map``: the map without text (mean over
  one prompt per finding), ``scanpath``: fixations sampled from the text-free map (``cogaze.explain``);
* ``similar_cases``: the top-k cases of the index by cosine of the global vision feature.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cogaze.api.loading import load_encoder, load_report_model
from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.errors import CogazeError, ConfigError

log = logging.getLogger("cogaze.predict")
NO_REPORT_MODEL = "no report model given (--report-model): no draft report"


@dataclass
class PredictInput:
    """One image to predict on."""

    source: str | Path | bytes
    """A file path, or the raw bytes of an upload."""
    name: str
    """The file name shown in outputs (upload name or path relative to the folder given)."""
    indication: str = ""
    history: str = ""
    view: str | None = None
    """None: from the DICOM header (ViewPosition) when present, else "UNKNOWN"."""


@dataclass
class SentenceMap:
    """The gaze map of one sentence of the draft report."""

    text: str
    findings: list[str]
    """CheXbert classes the rule labeler finds mentioned in the sentence (any state)."""
    peak: tuple[float, float]
    """(x, y) in original-image pixels of the centre of the most probable patch."""
    map: np.ndarray
    """float32 (H, W) on the original image grid, sums to 1 (zero where the centre crop cut the image)."""
    finding_states: dict[str, str] = field(default_factory=dict)
    """class -> "positive" / "uncertain" / "negative" as the sentence states it."""


@dataclass
class Prediction:
    """What :func:`predict` gives for one input (``status`` "ok", or the reason it could not be done)."""

    name: str
    status: str
    view: str = "UNKNOWN"
    report: str = ""
    sentences: list[SentenceMap] = field(default_factory=list)
    text_free_map: np.ndarray | None = None
    scanpath: list[tuple[float, float, float]] = field(default_factory=list)
    """(x, y, duration_s) in original pixels, sampled from the text-free map."""
    diseases: dict[str, float] = field(default_factory=dict)
    """The 14 CheXbert classes -> probability (sigmoid of the vision disease head)."""
    similar_cases: list[dict] = field(default_factory=list)
    """Best first: ``{"id", "score", "report", "image", "subject"}``."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent on this image: decode, encoder, report, maps, similar (batch steps shared equally)."""
    image: np.ndarray | None = None
    """uint8 (H, W) display image (after DICOM windowing and MONOCHROME1 inversion)."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about this row (no report model, an unrecognised DICOM view, ...)."""
    indication: str = ""
    history: str = ""
    gaze: list[Any] = field(default_factory=list, repr=False)
    """The :class:`cogaze.explain.predict.GazePrediction` objects (text-free first), for overlays."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Predictor:
    """Models loaded once; thread-unsafe (callers serialise calls)."""

    encoder: Any
    generator: Any = None
    index: Any = None
    device: str = "cpu"
    top_k: int = 5
    fixations: int = 10
    seed: int = 0
    num_beams: int | None = None
    sources: dict[str, str | None] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """Models, configuration and versions (what a server shows at ``/api/info``)."""
        import torch
        import transformers

        from cogaze import __version__

        geo = self.encoder.geometry
        gen = self.generator
        return {
            "checkpoint": self.sources.get("checkpoint"),
            "report_model": self.sources.get("report_model"),
            "report_variant": None if gen is None else gen.config.variant,
            "report_task": None if gen is None else gen.config.task,
            "index": None if self.index is None else {"cases": len(self.index), **self.index.source},
            "device": self.device, "top_k": self.top_k, "fixations": self.fixations, "seed": self.seed,
            "num_beams": self.num_beams,
            "image_size": int(geo.size), "mean": list(geo.mean), "std": list(geo.std),
            "classes": list(CHEXPERT_CLASSES),
            "versions": {"cogaze": __version__, "torch": torch.__version__, "transformers": transformers.__version__},
        }


def load_predictor(checkpoint: Any, report_model: str | Path | None = None, index: Any = None,
                   device: str = "cpu", top_k: int = 5, *, index_splits: Sequence[str] = ("train",),
                   store: str | Path | None = None, fixations: int = 10, seed: int = 0,
                   num_beams: int | None = None) -> Predictor:
    """Load the encoder of a pretraining run (or take a loaded one), the report generator of a
    ``cogaze train-report`` run, and the similar-case index: a dataset folder (its ``index_splits``
    encoded now), an index saved by :meth:`SimilarCaseIndex.save` (``.json`` / ``.safetensors``) or an
    index object. With an index, an LLM reporter draws its prompt's similar case from it."""
    from cogaze.tasks.report_generation import FeatureBank
    from cogaze.tasks.similar_cases import SimilarCaseIndex, build_similar_case_index

    if top_k < 1:
        raise ConfigError(f"top-k must be at least 1, got {top_k}")
    if fixations < 1:
        raise ConfigError(f"fixations must be at least 1, got {fixations}")
    encoder = load_encoder(checkpoint) if isinstance(checkpoint, str | Path) else checkpoint
    if not callable(getattr(encoder, "encode_images", None)) or getattr(encoder, "geometry", None) is None:
        raise ConfigError("checkpoint must be a pretraining run folder or a loaded cogaze encoder")
    if hasattr(encoder, "to"):
        encoder.to(device)
    sources: dict[str, str | None] = {
        "checkpoint": str(Path(checkpoint).resolve()) if isinstance(checkpoint, str | Path) else None,
        "report_model": None if report_model is None else str(Path(report_model).resolve())}
    if index is not None and not isinstance(index, SimilarCaseIndex):
        path = Path(index)
        if path.suffix in (".json", ".safetensors"):
            index = SimilarCaseIndex.load(path)
        elif path.is_dir():
            log.info("building the similar-case index of %s (%s)", path, ", ".join(index_splits))
            index = build_similar_case_index(encoder, path, index_splits, store=_store(store, path), device=device)
        else:
            raise ConfigError(f"index {path}: neither a dataset folder nor a saved index (.json / .safetensors)")
    generator = None
    if report_model is not None:
        generator = load_report_model(report_model, encoder, [])
        if index is not None:
            # The generator's similar-case lookup reads only the pooled features, subjects and reports of its
            # bank (the LLM's "similar report" prompt line): the index already holds them.
            pooled = index.pooled.float()
            generator.train_bank = FeatureBank(pooled[:, None], pooled, None)
            generator.train_subjects = list(index.subjects)
            generator.train_targets = list(index.reports)
        generator.model.to(device)
    return Predictor(encoder, generator, index, device, top_k, fixations, seed, num_beams, sources)


def _store(store: str | Path | None, data_dir: Path) -> Any:
    from cogaze.api.sources import open_store

    return open_store(store, data_dir)


@dataclass
class _Job:
    """One input on its way through a batch."""

    at: int
    input: PredictInput
    pred: Prediction
    prepared: Any = None


def _read(job: _Job, geometry: Any, device: str) -> None:
    """Decode, resolve the view and preprocess one input; failures go into its status."""
    from cogaze.data.images import decode_image
    from cogaze.data.records import parse_view
    from cogaze.explain.predict import PreparedImage, prepare_image

    inp, pred = job.input, job.pred
    t0 = time.perf_counter()
    try:
        decoded = decode_image(inp.source, inp.name)
        if inp.view is not None:
            try:
                pred.view = parse_view(inp.view)
            except ValueError as err:
                raise ConfigError(str(err)) from None
        else:
            pred.view, note = decoded.view()
            if note:
                pred.notes.append(note)
        prepared = prepare_image(decoded.pixels, geometry)
        job.prepared = PreparedImage(prepared.pixels.to(device), prepared.image_size)
        pred.image = decoded.pixels
    except CogazeError as err:
        pred.status = getattr(err, "message", None) or str(err)
    except Exception as err:  # noqa: BLE001 - any decoder failure of one file must not stop the batch
        log.debug("reading %s failed", inp.name, exc_info=True)
        pred.status = f"cannot read the image: {type(err).__name__}: {err}"
    pred.timings["decode"] = time.perf_counter() - t0


def _model_batch(predictor: Predictor, jobs: list[_Job]) -> None:
    """Encoder, report generation and similar cases for readable jobs, one batch each."""
    import torch

    from cogaze.tasks.report_generation import FeatureBank

    enc, n = predictor.encoder, len(jobs)
    t0 = time.perf_counter()
    pixels = torch.cat([j.prepared.pixels for j in jobs])
    with torch.no_grad():
        feats = enc.encode_images(pixels, [j.pred.view for j in jobs], [j.input.indication for j in jobs],
                                  [j.input.history for j in jobs])
    latents, pooled = feats.latents.detach().float(), feats.pooled.detach().float()
    logits = None if feats.logits is None else feats.logits.detach().float()
    probs = None if logits is None else torch.sigmoid(logits).cpu().numpy()
    t_enc = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    reports: list[str | None] = [None] * n
    if predictor.generator is not None:
        # subjects nobody has: no case of the bank is excluded as "the same patient"
        reports = list(predictor.generator.generate(FeatureBank(latents, pooled, logits),
                                                    [f"\0predict-{j.at}" for j in jobs], predictor.num_beams))
    t_rep = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    similar = predictor.index.query(pooled, predictor.top_k) if predictor.index is not None else [[] for _ in jobs]
    t_sim = (time.perf_counter() - t0) / n
    for k, job in enumerate(jobs):
        pred = job.pred
        pred.diseases = ({c: float(p) for c, p in zip(CHEXPERT_CLASSES, probs[k])} if probs is not None
                         else {c: float("nan") for c in CHEXPERT_CLASSES})
        if probs is None:
            pred.notes.append("the encoder has no vision disease head: probabilities are NaN")
        if reports[k] is None:
            pred.notes.append(NO_REPORT_MODEL)
        else:
            pred.report = str(reports[k]).strip()
            if not pred.report:
                pred.notes.append("the report model generated an empty report")
        pred.similar_cases = similar[k]
        pred.timings.update(encoder=t_enc, report=t_rep, similar=t_sim)


def _maps(predictor: Predictor, job: _Job) -> None:
    """Text-free map, one map per draft sentence and the scanpath of one image."""
    from cogaze.explain.predict import predict_gazes, report_sentences, scanpath_from_prediction

    t0 = time.perf_counter()
    pred, enc = job.pred, predictor.encoder
    sentences = report_sentences(pred.report) if pred.report else []
    gazes = predict_gazes(enc, job.prepared, [None, *sentences], view=pred.view, indication=job.input.indication,
                          history=job.input.history, geometry=enc.geometry)
    pred.gaze = gazes
    pred.text_free_map = gazes[0].heatmap
    pred.sentences = [SentenceMap(s, list(g.findings), (float(g.peak[0]), float(g.peak[1])), g.heatmap, dict(g.findings))
                      for s, g in zip(sentences, gazes[1:])]
    pred.scanpath = [(float(f[0]), float(f[1]), float(f[2])) for f in scanpath_from_prediction(gazes[0], predictor.fixations, seed=predictor.seed)]
    pred.timings["maps"] = time.perf_counter() - t0


def _failed(job: _Job, err: BaseException) -> None:
    log.warning("%s: %s: %s", job.input.name, type(err).__name__, err, exc_info=log.isEnabledFor(logging.DEBUG))
    job.pred.status = f"failed: {type(err).__name__}: {err}"
    job.pred.report, job.pred.sentences, job.pred.text_free_map, job.pred.gaze = "", [], None, []


def _run_batch(predictor: Predictor, jobs: list[_Job]) -> None:
    ready = [j for j in jobs if j.pred.ok]
    if not ready:
        return
    try:
        _model_batch(predictor, ready)
    except Exception as err:  # noqa: BLE001 - isolate the image that breaks the batch: retry one by one
        if len(ready) == 1:
            _failed(ready[0], err)
            return
        log.warning("a batch of %d images failed (%s); retrying one by one", len(ready), err)
        for j in ready:
            _run_batch(predictor, [j])
        return
    for j in ready:
        try:
            _maps(predictor, j)
        except Exception as err:  # noqa: BLE001 - one image's maps must not stop the others
            _failed(j, err)


def iter_predict(predictor: Predictor, inputs: Sequence[PredictInput], batch_size: int = 16,
                 progress: bool = False) -> Iterator[list[Prediction]]:
    """:func:`predict` batch by batch: yields the predictions of each batch of ``batch_size`` inputs as soon as
    they are done (so a long folder need not hold every map in memory)."""
    from cogaze.logs import Progress, show_progress

    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    bar = Progress(len(inputs), "predict", every_s=2.0) if show_progress(progress) and inputs else None
    done = failed = 0
    for start in range(0, len(inputs), batch_size):
        jobs = [_Job(start + i, inp, Prediction(name=inp.name, status="ok", indication=inp.indication,
                                                 history=inp.history))
                for i, inp in enumerate(inputs[start:start + batch_size])]
        for job in jobs:
            _read(job, predictor.encoder.geometry, predictor.device)
        _run_batch(predictor, jobs)
        for job in jobs:
            job.prepared = None
        done += len(jobs)
        failed += sum(not j.pred.ok for j in jobs)
        if bar is not None:
            bar.step(done, f"{done - failed} ok, {failed} not processed")
        yield [j.pred for j in jobs]


def predict(predictor: Predictor, inputs: Sequence[PredictInput], batch_size: int = 16,
            progress: bool = False) -> list[Prediction]:
    """One :class:`Prediction` per input, in order; an unreadable input gives ``status`` != "ok" and never
    raises. Results do not depend on ``batch_size`` (up to float rounding)."""
    return [p for batch in iter_predict(predictor, list(inputs), batch_size, progress) for p in batch]
