"""Dataset folder -> trained run: the glue behind ``cogaze pretrain``.

Records are loaded with :func:`cogaze.data.dataset.load_dataset`, gaze readings rendered once into a
cache inside the run folder (rebuilt only when inputs change), and samples built lazily per step.
The tokenizer is copied into the run folder so a run is self-contained. Under ``trainer.strategy=ddp``
Lightning re-runs the command once per extra device; those processes reuse what rank 0 wrote.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cogaze.config import check_ranges
from cogaze.data.dataset import load_dataset
from cogaze.data.geometry import ImageGeometry
from cogaze.data.image_check import drop_broken_images
from cogaze.data.pixels import ModelImages
from cogaze.data.records import RecordSet
from cogaze.data.store import ImageStore
from cogaze.errors import ConfigError, DataError, OnError, Problems
from cogaze.gaze.cache import GazeCache, build_gaze_cache
from cogaze.logs import show_progress
from cogaze.models.backbones import build_vision_backbone
from cogaze.models.hub import looks_local
from cogaze.models.pretrained import image_geometry, patch_grid
from cogaze.models.tokenizer import raw_tokenizer
from cogaze.tasks.pretrain.config import PretrainConfig, check_trains
from cogaze.tasks.pretrain.feature_cache import FeatureCache, build_feature_cache
from cogaze.tasks.pretrain.recovery import find_resume_point
from cogaze.tasks.pretrain.run import fit, is_launch_rank_zero, resume
from cogaze.tasks.pretrain.samples import PretrainSamples
from cogaze.tasks.pretrain.sources import record_sources, resolve_sources

log = logging.getLogger("cogaze.pretrain")


def _copy_tokenizer(config: PretrainConfig, run_dir: Path) -> None:
    src = Path(config.model.tokenizer)
    dst = run_dir / "tokenizer"
    if src.resolve() == dst.resolve():
        return
    if not is_launch_rank_zero():  # only rank 0 writes the run folder; the others read the same vocabulary
        if not src.is_dir() and dst.is_dir():
            config.model.tokenizer = str(dst.resolve())
        return
    missing = (f"tokenizer folder {src} not found: train one with `cogaze tokenizer train DATA_DIR --out {src}` "
               "or set model.tokenizer=DIR (or a hub id such as gpt2 whose files are in the Hugging Face cache)")
    hub_id = not src.is_dir() and not looks_local(config.model.tokenizer)
    if not src.is_dir() and not hub_id:
        raise ConfigError(missing)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".tokenizer."))
    try:
        if hub_id:  # a hub id (local Hugging Face cache first): the run keeps its own copy
            try:
                tokenizer = raw_tokenizer(config.model.tokenizer)
            except ConfigError as err:
                raise ConfigError(f"{missing}; as a hub id: {err}") from None
            tokenizer.save_pretrained(str(tmp))
        else:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    config.model.tokenizer = str(dst.resolve())


def build_samples(config: PretrainConfig, records: RecordSet, run_dir: Path, gaze_cache: str | Path | None = None,
                  feature_cache: str | Path | None = None) -> tuple[PretrainSamples, PretrainSamples]:
    """Train and val samples for ``config``'s model (gaze and feature caches built when needed, by
    default inside ``run_dir``; both are fingerprinted, so runs on the same data may share them)."""
    geometry = image_geometry(config.model)
    grid = patch_grid(config.model)
    use_gaze = config.model.loss.gaze != "none"
    cache = None
    if use_gaze and any(r.has_gaze for r in records):
        path = Path(gaze_cache) if gaze_cache else run_dir / "gaze.safetensors"
        # Every rank checks the fingerprint: ranks launched with rank 0 (Lightning's ddp) find its cache up
        # to date; ranks started on their own (other nodes) may build the same bytes at once (atomic writes).
        result = build_gaze_cache(records, path, geometry, grid, progress=show_progress(is_launch_rank_zero()))
        if is_launch_rank_zero():
            log.info("gaze cache %s: %d readings, %d rows (%s)", path, result.readings, result.rows,
                     "built" if result.rebuilt else "up to date")
        cache = GazeCache(path)
    train_recs, val_recs = records.split("train"), records.split("val")
    features = None
    if config.model.vision.cache_features:
        cache_dir = Path(feature_cache) if feature_cache else run_dir / "vision_features"
        features = build_features(config, [*train_recs, *val_recs], cache_dir,
                                  images=model_images(config, geometry, [*train_recs, *val_recs]))
    images = model_images(config, geometry, [*train_recs, *val_recs]) if features is None else None
    train = PretrainSamples(train_recs, geometry, grid, cache, use_gaze, features, images)
    val = PretrainSamples(val_recs, geometry, grid, cache, use_gaze, features, images)
    return train, val


def model_images(config: PretrainConfig, geometry: ImageGeometry, records: list) -> ModelImages:
    """Where pretraining reads its images: ``data.store`` (checked against ``records``) or the files."""
    if not config.data.store:
        return ModelImages(geometry, fast=config.data.fast_decode)
    store = ImageStore(config.data.store)
    stale = store.stale([(r.dicom_id, r.image_path) for r in records])
    if stale:
        raise DataError(f"{len(stale)} image(s) missing from the store or changed since it was prepared "
                        f"(first: {', '.join(stale[:3])}): run `cogaze data prepare` again", config.data.store)
    if is_launch_rank_zero():
        log.info("%s", store.describe())
    return ModelImages(geometry, store)


def build_features(config: PretrainConfig, records: list, cache_dir: Path, dtype: str = "float16",
                   images: ModelImages | None = None) -> FeatureCache:
    """Encode ``records`` once with the frozen vision backbone into ``cache_dir`` (reused while up to date).

    The backbone is built exactly as the training model builds it (same config, and for a random-init
    backbone the same seed: ``cogaze.tasks.pretrain.run`` seeds everything with ``trainer.seed`` right
    before building the model, whose first random draw is the vision backbone).
    """
    import torch

    m = config.model
    if m.train_vision:
        raise ConfigError("model.vision.cache_features=true needs a frozen backbone: a trained backbone "
                          "(model.train_vision=true) cannot be cached")
    torch.manual_seed(config.trainer.seed)
    backbone = build_vision_backbone(m.vision)
    use_gpu = config.trainer.accelerator != "cpu" and torch.cuda.is_available()
    device = "cuda" if use_gpu else "cpu"
    result = build_feature_cache(records, backbone.to(device), image_geometry(m), cache_dir,
                                 batch_size=config.data.val_batch_size or config.data.batch_size,
                                 dtype=dtype, device=device, images=images)
    size_gb = np.dtype(dtype).itemsize * float(np.prod(result.shape)) / 1e9
    log.info("vision feature cache %s: %d images %s, %.2f GB (%s)", result.path, result.images, result.shape,
             size_gb, "built" if result.rebuilt else "up to date")
    return FeatureCache(result.path)


def usable_records(config: PretrainConfig, records: RecordSet, problems: Problems) -> RecordSet:
    """Under the skip policy, the records whose image pretraining can read: the train and val images are
    decoded once as training will decode them (or, with ``data.store``, looked up in the store), and
    each unusable one is logged and counted in ``problems``. Under ``raise`` the records as they are
    (a broken image then stops the run when it is read, naming the file)."""
    if problems.on_error != "skip":
        return records
    used = [r for r in records if r.split in ("train", "val")]
    if config.data.store:
        store = ImageStore(config.data.store)
        stale = set(store.stale([(r.dicom_id, r.image_path) for r in used]))
        for dicom in sorted(stale):
            problems.report(DataError(f"image {dicom}: not in the image store or changed since it was prepared",
                                      config.data.store))
        bad = stale
    else:
        size = image_geometry(config.model).size if config.data.fast_decode else None
        kept = {r.dicom_id for r in drop_broken_images(used, problems, decode=True, shortest_edge=size,
                                                       progress=show_progress(is_launch_rank_zero()))}
        bad = {r.dicom_id for r in used} - kept
    return RecordSet([r for r in records if r.dicom_id not in bad]) if bad else records


def pretrain(config: PretrainConfig, data_dir: str | Path, run_dir: str | Path,
             gaze_cache: str | Path | None = None, on_error: OnError = "raise", records: RecordSet | None = None,
             feature_cache: str | Path | None = None) -> dict[str, Any]:
    """Pretrain on a dataset folder (docs/formats.md) into ``run_dir``; returns the run summary.

    ``records``: the folder's records when the caller has loaded them already (skips re-reading it);
    ``gaze_cache`` / ``feature_cache``: where the caches live (default: inside ``run_dir``), so that
    several runs on one dataset (ablations, seeds) render and encode it once.
    """
    check_ranges(config, "pretrain config")  # configs built in code skip load_config's checks
    run = Path(run_dir)
    if records is None:
        loaded = load_dataset(data_dir, on_error=on_error, impression_only=config.data.impression_only)
        records, problems = loaded.records, loaded.problems
    else:
        problems = Problems(on_error)
    records = usable_records(config, records, problems)
    if problems.n_skipped:
        log.warning("%d item(s) skipped while loading and checking %s (--on-error skip; each one logged above)",
                    problems.n_skipped, data_dir)
    check_trains(config, len(records.split("train")))  # before anything is written or built
    run.mkdir(parents=True, exist_ok=True)
    config.data.root = str(data_dir)
    _copy_tokenizer(config, run)
    if is_launch_rank_zero():
        record_sources(config.model, run)
    else:
        resolve_sources(config.model, run)
    train, val = build_samples(config, records, run, gaze_cache, feature_cache)
    log.info("pretraining on %d train / %d val images", len(train), len(val))
    return fit(config, train, val, run)


def resume_pretrain(run_dir: str | Path, overrides: tuple[str, ...] = (), on_error: OnError = "raise") -> dict[str, Any]:
    """Continue a run from its newest intact checkpoint, on the dataset folder recorded in its config."""
    from cogaze.config import load_config

    run = Path(run_dir)
    point = find_resume_point(run, repair=is_launch_rank_zero())  # before reading the dataset: fail fast
    config = load_config(PretrainConfig, run / "config.yaml", overrides)
    resolve_sources(config.model, run)
    loaded = load_dataset(config.data.root, on_error=on_error, impression_only=config.data.impression_only)
    records = usable_records(config, loaded.records, loaded.problems)
    if loaded.problems.n_skipped:
        log.warning("%d item(s) skipped while loading and checking %s (--on-error skip; each one logged above)",
                    loaded.problems.n_skipped, config.data.root)
    train, val = build_samples(config, records, run)
    return resume(run, train, val, overrides, point)
