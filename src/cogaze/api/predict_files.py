"""Files in and out of ``cogaze predict``: the images of files and folders, an indication table, and the
outputs (``predictions.csv``, one explanation folder per image, ``predict_summary.json``).

``predictions.csv`` has one row per input: ``image`` (the name), ``status`` ("ok" or why it was not
processed), ``view``, ``report`` (the draft; empty without a report model), ``p_<class>`` for the 14
CheXbert classes, ``similar_cases`` (JSON list of ``{"id", "score"}``, best first), ``notes`` and
``outputs`` (the image's folder under OUT). Each folder holds ``explanation.json`` (the maps, scanpath,
report, probabilities and similar cases) and the overlays (``map_00.png`` = the text-free map, then one per
sentence; ``scanpath.png``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cogaze.api.predict import PredictInput, Prediction, Predictor, iter_predict
from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.errors import ConfigError, DataError
from cogaze.io import atomic_write_json, atomic_write_text

log = logging.getLogger("cogaze.predict")
IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".jpg", ".jpeg")
CSV_NAME = "predictions.csv"
COLUMNS = ["image", "status", "view", "report", *(f"p_{c}" for c in CHEXPERT_CLASSES), "similar_cases", "notes",
           "outputs"]


def _is_image(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    if path.suffix:  # another extension: not an image we read
        return False
    try:  # DICOM files often have no extension: the preamble says
        with path.open("rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def collect_inputs(paths: Sequence[str | Path], indication_csv: str | Path | None = None) -> list[PredictInput]:
    """One input per file: a file given is taken as is (a corrupt one then gets its reason in the output),
    a folder is searched recursively for PNG / JPG / DICOM files (sorted; other files are counted and
    skipped). Names are paths relative to the folder given (prefixed by its name). ``indication_csv``: a
    table with an ``image`` column (the name, or the file name when that is unique) and ``indication``,
    ``history`` and/or ``view`` columns (a view given there overrides the DICOM header)."""
    if not paths:
        raise ConfigError("give at least one image file or folder")
    inputs: list[PredictInput] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            chosen = [p for p in files if _is_image(p)]
            if len(chosen) < len(files):
                log.info("%s: skipped %d file(s) that are not PNG / JPG / DICOM", path, len(files) - len(chosen))
            if not chosen:
                log.warning("%s: no PNG / JPG / DICOM file found", path)
            inputs += [PredictInput(str(p), str(Path(path.name) / p.relative_to(path))) for p in chosen]
        elif path.exists():
            inputs.append(PredictInput(str(path), path.name))
        else:
            raise ConfigError(f"{path}: no such file or folder")
    if indication_csv is not None:
        _attach_context(inputs, indication_csv)
    return inputs


def _attach_context(inputs: list[PredictInput], table_path: str | Path) -> None:
    from cogaze.data.csvio import read_table
    from cogaze.data.records import parse_view

    table = read_table(table_path, required=["image"], optional=["indication", "history", "view"])
    if not any(table.has(c) for c in ("indication", "history", "view")):
        raise DataError("needs an 'indication', 'history' or 'view' column besides 'image'", table_path)
    by_name = {inp.name: inp for inp in inputs}
    by_file: dict[str, list[PredictInput]] = {}
    for inp in inputs:
        by_file.setdefault(Path(inp.name).name, []).append(inp)
    seen: dict[str, int] = {}
    unmatched = 0
    for row in table:
        key = row.get("image")
        if not key:
            raise row.error("column 'image' is blank")
        if key in seen:
            raise row.error(f"image {key!r} is listed twice (first on line {seen[key]})")
        seen[key] = row.line
        target = by_name.get(key)
        if target is None:
            named = by_file.get(Path(key).name, [])
            if len(named) > 1:
                raise row.error(f"image {key!r} matches {len(named)} inputs by file name; give the path "
                                f"relative to the folder, e.g. {named[0].name!r}")
            target = named[0] if named else None
        if target is None:
            unmatched += 1
            continue
        target.indication, target.history = row.get("indication"), row.get("history")
        if row.get("view"):
            try:
                target.view = parse_view(row.get("view"))
            except ValueError as err:
                raise row.error(str(err)) from None
    if unmatched:
        log.warning("%s: %d row(s) name no input image", table_path, unmatched)


def safe_stem(name: str) -> str:
    """A folder name for an input name: its path without the suffix, every run of characters other than
    letters, digits, '.', '-' and '_' as one '_'."""
    stem = str(Path(name).with_suffix("")) if Path(name).suffix else name
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"
    return out[:150]


class _Folders:
    """Unique output folder names, in input order (a clash gets ``-2``, ``-3``, ...)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def name(self, image: str) -> str:
        base = safe_stem(image)
        name, k = base, 1
        while name.lower() in self.used:
            k += 1
            name = f"{base}-{k}"
        self.used.add(name.lower())
        return name


def _similar_json(pred: Prediction) -> str:
    return json.dumps([{"id": c["id"], "score": c["score"]} for c in pred.similar_cases])


def csv_row(pred: Prediction, folder: str | None) -> dict[str, str]:
    """The ``predictions.csv`` row of one prediction."""
    row = {"image": pred.name, "status": pred.status, "view": pred.view if pred.ok else "", "report": pred.report,
           "similar_cases": _similar_json(pred) if pred.ok else "", "notes": "; ".join(pred.notes),
           "outputs": folder or ""}
    for c in CHEXPERT_CLASSES:
        row[f"p_{c}"] = f"{pred.diseases[c]:.6f}" if pred.ok and c in pred.diseases else ""
    return row


def write_image_outputs(pred: Prediction, folder: Path) -> list[Path]:
    """``explanation.json`` and the overlays of one processed prediction in ``folder``."""
    from cogaze.explain.write import write_explanation

    extra = {"image": pred.name, "status": pred.status, "report": pred.report, "diseases": pred.diseases,
             "similar_cases": pred.similar_cases, "notes": pred.notes,
             "timings": {k: round(v, 4) for k, v in pred.timings.items()}}
    if pred.gaze is None or pred.image is None:
        raise ValueError(f"{pred.name}: no maps to write (status {pred.status!r})")
    payload = write_explanation(pred.gaze, pred.image, folder, scanpath=pred.scanpath, extra=extra)
    return [folder / f for f in payload["files"]]


def write_csv(rows: Iterable[dict[str, str]], path: str | Path) -> Path:
    """``predictions.csv`` (atomically)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def _write_batch(preds: Sequence[Prediction], out: Path, folders: _Folders, rows: list[dict[str, str]],
                 files: list[Path]) -> None:
    for pred in preds:
        folder = folders.name(pred.name) if pred.ok else None
        if folder is not None:
            files += write_image_outputs(pred, out / folder)
        rows.append(csv_row(pred, folder))


def write_predictions(predictions: Sequence[Prediction], out_dir: str | Path) -> list[Path]:
    """``out_dir/predictions.csv`` (one row per prediction) and, per processed image, ``out_dir/<safe
    name>/`` with ``explanation.json`` and overlays; returns every file written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    files: list[Path] = []
    _write_batch(predictions, out, _Folders(), rows, files)
    return [*files, write_csv(rows, out / CSV_NAME)]


def predict_to_folder(predictor: Predictor, inputs: Sequence[PredictInput], out_dir: str | Path,
                      batch_size: int = 16, progress: bool = True) -> dict[str, Any]:
    """Predict batch by batch and write each image's outputs as its batch finishes (memory stays bounded on
    long folders), then ``predictions.csv`` and ``predict_summary.json``; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    files: list[Path] = []
    folders = _Folders()
    totals: dict[str, float] = {}
    for preds in iter_predict(predictor, list(inputs), batch_size, progress):
        _write_batch(preds, out, folders, rows, files)
        for p in preds:
            for k, v in p.timings.items():
                totals[k] = totals.get(k, 0.0) + v
    csv_path = write_csv(rows, out / CSV_NAME)
    failed = [{"image": r["image"], "status": r["status"]} for r in rows if r["status"] != "ok"]
    summary = {"n_inputs": len(rows), "n_ok": len(rows) - len(failed), "not_processed": failed,
               "csv": str(csv_path), "seconds": {k: round(v, 3) for k, v in totals.items()},
               "batch_size": batch_size, "models": predictor.info()}
    summary["summary_file"] = str(atomic_write_json(out / "predict_summary.json", summary))
    return summary


def predict_paths(paths: Sequence[str | Path], checkpoint: str | Path, out_dir: str | Path,
                  report_model: str | Path | None = None, index: str | Path | None = None,
                  indication_csv: str | Path | None = None, batch_size: int = 16, top_k: int = 5,
                  index_splits: Sequence[str] = ("train",), device: str = "cpu", fixations: int = 10,
                  seed: int = 0, num_beams: int | None = None, progress: bool = True) -> dict[str, Any]:
    """``cogaze predict``: collect the images of ``paths``, load the models, predict into ``out_dir``. An
    index built from a dataset folder is saved as ``out_dir/similar_cases_index.{json,safetensors}`` (pass
    it as ``index`` next time to skip encoding the folder). Returns the summary."""
    from cogaze.api.predict import load_predictor

    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    inputs = collect_inputs(paths, indication_csv)
    predictor = load_predictor(checkpoint, report_model, index, device, top_k, index_splits=index_splits,
                               fixations=fixations, seed=seed, num_beams=num_beams)
    saved = None
    if index is not None and Path(index).is_dir():
        saved = [str(p) for p in predictor.index.save(Path(out_dir) / "similar_cases_index")]
    summary = predict_to_folder(predictor, inputs, out_dir, batch_size, progress)
    if saved:
        summary["index_files"] = saved
    return summary
