"""``generate_phantom``: patients -> studies -> images, reports, context, gaze; written in the real formats.

Every patient draws from its own random stream ``(seed, patient index)``, so the output does not
depend on processing order and the same seed gives a byte-identical tree.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from cogaze import __version__
from cogaze.config import help_field
from cogaze.data.phantom import anatomy, context, findings, reading, reports, writer
from cogaze.data.phantom.structured import structured_findings
from cogaze.data.records import CHEXPERT_CLASSES, binarize_labels
from cogaze.errors import ConfigError
from cogaze.logs import show_progress

GENERATOR_VERSION = "phantom-1.0"
SPLIT_NAMES = {"train": "train", "val": "validate", "test": "test"}


@dataclass
class PhantomOptions:
    """Options of the phantom generator (every key documented)."""

    n_patients: int = help_field(40, "number of patients (each has 1-4 studies of 1-3 images)", ge=1)
    seed: int = help_field(0, "random seed; the same seed gives a byte-identical tree", ge=0, le=2**32 - 1)
    image_size: int = help_field(256, "image side in pixels (64-1024)", ge=64, le=1024)
    gaze_fraction: float = help_field(0.3, "fraction of frontal images with a simulated reading (EGD + REFLACX)",
                                      ge=0, le=1)
    subtlety: float = help_field(0.5, "0 = conspicuous findings, 1 = barely visible", ge=0, le=1)
    context_absent: float = help_field(0.025, "fraction of studies with neither indication nor history", ge=0, le=1)
    multi_reading: float = help_field(0.15, "fraction of gaze images given 1-2 extra REFLACX readings", ge=0, le=1)
    val_fraction: float = help_field(0.1, "fraction of patients in the validation split", ge=0, le=1)
    test_fraction: float = help_field(0.1, "fraction of patients in the test split", ge=0, le=1)
    prevalence: dict[str, float] = help_field(
        help="per-class base probability (CheXbert names); missing classes keep the defaults",
        default_factory=dict, ge=0, le=1)
    progress: bool = help_field(True, "show a progress bar")
    workers: int = help_field(1, "worker processes (output is identical for any number)", ge=1)

    def check(self) -> None:
        if self.n_patients < 1:
            raise ConfigError(f"n_patients must be >= 1, got {self.n_patients}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if not 64 <= self.image_size <= 1024:
            raise ConfigError(f"image_size must be in 64..1024, got {self.image_size}")
        for name in ("gaze_fraction", "subtlety", "context_absent", "multi_reading", "val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        unknown = set(self.prevalence) - set(findings.DEFAULT_PREVALENCE)
        if unknown:
            raise ConfigError(f"unknown prevalence classes {sorted(unknown)}; known: {list(findings.DEFAULT_PREVALENCE)}")


@dataclass
class PhantomSummary:
    """What was generated (the same counts are in ``phantom/manifest.json``)."""

    out_dir: Path
    n_patients: int
    n_studies: int
    n_images: int
    n_gaze_images: int
    n_reflacx_readings: int
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)
    positives: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["out_dir"] = str(self.out_dir)
        return out


def _dicom_id(rng: np.random.Generator) -> str:
    h = rng.bytes(20).hex()
    return "-".join(h[i:i + 8] for i in range(0, 40, 8))


def make_study_report(rng: np.random.Generator, base: dict[str, float], absent: float):
    """Scenario, context, findings and report of one study (no rendering; fast)."""
    scenario = context.sample_scenario(rng)
    fnd = findings.sample_findings(rng, context.finding_probabilities(scenario, base))
    ctx = context.sample_context(rng, scenario, absent)
    return ctx, fnd, reports.build_report(fnd, rng)


def _views(rng: np.random.Generator, n: int, scenario: str) -> list[str]:
    first = "AP" if (scenario == "icu" or rng.random() < 0.25) else "PA"
    views = [first]
    if n >= 2:
        views.append("LATERAL")
    if n >= 3:
        views.append(first if rng.random() < 0.6 else "LATERAL")
    return views


def _patient(index: int, subject_id: str, study_ids: list[str], split: str, opt: PhantomOptions, base: dict,
             out: Path) -> dict:
    """Generate and write one patient; returns the rows for the shared tables."""
    rng = np.random.default_rng([opt.seed, index])
    vis, size_gain = 1.5 - opt.subtlety, 1.25 - 0.5 * opt.subtlety
    female = bool(rng.random() < 0.5)
    rows: dict[str, Any] = {k: [] for k in ("meta", "split", "chexpert", "boxes", "master", "egd_fix", "reflacx",
                                             "sentences")}
    rows["context"] = []
    rows["srrg"] = []
    n_studies = len(study_ids)
    year = int(rng.integers(2110, 2190))
    for si, study_id in enumerate(study_ids):
        ctx, fnd, rep = make_study_report(rng, base, opt.context_absent)
        n_img = int(rng.choice([1, 2, 3], p=[0.35, 0.5, 0.15]))
        views = _views(rng, n_img, ctx.scenario)
        sdir = writer.study_dir(subject_id, study_id)
        writer.write_text(out / f"{sdir}.txt", reports.format_report(rep, ctx.indication, ctx.history, views))
        raw = rep.labels
        rows["context"].append(bool(ctx.indication or ctx.history))
        code = {0: "", 1: 1.0, 2: 0.0, 3: -1.0}
        rows["chexpert"].append({"subject_id": int(subject_id), "study_id": int(study_id),
                                 **{c: code[raw[i]] for i, c in enumerate(CHEXPERT_CLASSES)}})
        date = f"{year + si}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
        study_images: list[str] = []
        for view in views:
            dicom = _dicom_id(rng)
            params = anatomy.sample_anatomy(rng, view, female)
            findings.adjust_anatomy(params, fnd, vis)
            cv = anatomy.draw_anatomy(opt.image_size, params, rng)
            masks = [findings.render_finding(cv, f, vis, size_gain) for f in fnd]
            pixels = anatomy.compose(cv, rng)
            writer.write_jpeg(out / sdir / f"{dicom}.jpg", pixels)
            study_images.append(f"{sdir}/{dicom}.jpg")
            proc = "CHEST (PORTABLE AP)" if view == "AP" else "CHEST (PA AND LAT)"
            rows["meta"].append({
                "dicom_id": dicom, "subject_id": int(subject_id), "study_id": int(study_id),
                "PerformedProcedureStepDescription": proc, "ViewPosition": view, "Rows": opt.image_size,
                "Columns": opt.image_size, "StudyDate": int(date),
                "StudyTime": f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}{int(rng.integers(0, 60)):02d}.{int(rng.integers(0, 1000)):03d}",
                "ProcedureCodeSequence_CodeMeaning": proc,
                "ViewCodeSequence_CodeMeaning": {"PA": "postero-anterior", "AP": "antero-posterior",
                                                 "LATERAL": "lateral"}[view],
                "PatientOrientationCodeSequence_CodeMeaning": "Recumbent" if view == "AP" else "Erect"})
            rows["split"].append({"dicom_id": dicom, "study_id": int(study_id), "subject_id": int(subject_id),
                                  "split": SPLIT_NAMES[split]})
            arrays = {f"finding_{i:02d}": m for i, m in enumerate(masks)}
            names = sorted(cv.regions)
            arrays["anatomy"] = np.stack([cv.regions[k] for k in names])
            arrays["anatomy_names"] = np.array(names)
            writer.write_npz(out / "phantom" / "masks" / f"{dicom}.npz", arrays)
            for i, (f, m) in enumerate(zip(fnd, masks)):
                box = _bbox(m) if m.any() else ("",) * 4
                rows["boxes"].append({"dicom_id": dicom, "index": i, "finding": f.label, "state": f.state,
                                      "kind": f.kind, "side": f.side or "", "zone": f.zone or "",
                                      "severity": f.severity, "mask_key": f"finding_{i:02d}",
                                      "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3]})
            if view in anatomy.FRONTAL_VIEWS and rng.random() < opt.gaze_fraction:
                _gaze(rng, out, dicom, subject_id, study_id, split, sdir, cv, masks, fnd, rep, rows)
        structured = structured_findings(rep)
        if structured:  # SRRG item of the study (docs/formats.md); no random draw, images unchanged
            rows["srrg"].append({"split": split, "item": {
                "id": f"mimic-{study_id}", "image_paths": study_images,
                "view_positions": list(views), "findings_section": structured,
                "history_section": ctx.history or None}})
    rows["n_studies"] = n_studies
    return rows


def _gaze(rng, out, dicom, subject_id, study_id, split, sdir, cv, masks, fnd, rep, rows) -> None:
    size = cv.size
    sentences = rep.findings + rep.impression
    px = reading.Screen(size, size, 0.65).ppd(np.array([size / 2]), np.array([size / 2]))[0][0]
    dil = [ndimage.binary_dilation(m, iterations=max(1, int(round(px)))) if m.any() else m for m in masks]
    boxes = [(f.label, f.state, _bbox(m)) for f, m in zip(fnd, masks) if m.any()]  # REFLACX ellipses (no draw)
    n_extra = int(rng.integers(1, 3)) if rng.random() < 0.15 else 0
    for k in range(1 + n_extra):
        sim = reading.simulate_reading(rng, (size, size), cv.regions, masks, sentences)
        rid = f"P3{int(rng.integers(0, 100)):02d}R{int(rng.integers(0, 1_000_000)):06d}"
        if k == 0:
            start = len(rows["egd_fix"])
            rows["egd_fix"].extend(writer.egd_fixation_rows(dicom, sim, start))
            writer.write_json(out / "egd" / "audio_segmentation_transcripts" / dicom / "transcript.json",
                              writer.egd_transcript(sim))
            pad = (size * reading.SCREEN_PX[0] / reading.SCREEN_PX[1] - size) / 2
            rows["master"].append({"dicom_id": dicom, "path": f"{sdir}/{dicom}.dcm", "study_id": int(study_id),
                                   "patient_id": int(subject_id), "image_top_pad": 0, "image_bottom_pad": 0,
                                   "image_left_pad": round(pad, 1), "image_right_pad": round(pad, 1),
                                   **_egd_classes(fnd)})
        writer.write_reflacx_reading(out / "reflacx" / "main_data" / rid, sim)
        writer.write_reflacx_ellipses(out / "reflacx" / "main_data" / rid, boxes, rid)
        rows["reflacx"].append({"id": rid, "split": SPLIT_NAMES[split], "eye_tracking_data_discarded": False,
                                "image": f"physionet.org/files/mimic-cxr/2.0.0/{sdir}/{dicom}.dcm",
                                "dicom_id": dicom, "subject_id": int(subject_id), "image_size_x": size,
                                "image_size_y": size, **_reflacx_classes(fnd)})
        t0, t1 = sim.start, sim.end
        for j, p in enumerate(sim.phrases):
            target = dil[p.finding] if p.finding is not None and masks[p.finding].any() else None
            if target is None:
                target = np.zeros((size, size), dtype=bool)
                for r in p.regions:
                    target |= cv.regions.get(r, target)
            sel = (t0 >= p.start - 1.0) & (t0 < p.end)
            xi = np.clip(sim.x[sel].astype(int), 0, size - 1)
            yi = np.clip(sim.y[sel].astype(int), 0, size - 1)
            dur = (t1 - t0)[sel]
            inside = float(dur[target[yi, xi]].sum() / dur.sum()) if dur.sum() > 0 else 0.0
            box = _bbox(target) if target.any() else ("",) * 4
            for source, reading_id in ((("egd", dicom),) if k == 0 else ()) + (("reflacx", rid),):
                rows["sentences"].append({
                    "source": source, "reading_id": reading_id, "dicom_id": dicom, "sentence_index": j,
                    "sentence": p.text, "start": p.start, "end": p.end,
                    "finding_index": "" if p.finding is None else p.finding,
                    "finding": "" if p.finding is None else fnd[p.finding].label,
                    "mask_key": "" if p.finding is None else f"finding_{p.finding:02d}",
                    "regions": ";".join(p.regions), "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3],
                    "fixation_time_inside": round(inside, 4)})


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Half-open (x0, y0, x1, y1) box of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _egd_classes(fnd: list) -> dict:
    labels = {f.label for f in fnd}
    chf = bool(labels & {"Edema", "Cardiomegaly"})
    pna = "Pneumonia" in labels
    return {"Normal": int(not labels - {"Support Devices"}), "CHF": int(chf and not pna), "pneumonia": int(pna)}


def _reflacx_classes(fnd: list) -> dict:
    labels = {f.label: f for f in fnd}
    out = {}
    for col, classes in writer.REFLACX_ANOMALIES.items():
        present = [labels[c] for c in classes if c in labels]
        out[col] = 0 if not present else (5 if any(f.state == 1 for f in present) else 3)
    return out


def generate_phantom(out_dir: str | Path, n_patients: int = 40, seed: int = 0, image_size: int = 256,
                     gaze_fraction: float = 0.3, subtlety: float = 0.5, **kwargs) -> PhantomSummary:
    """Generate a phantom dataset folder at ``out_dir`` (replaced if it exists). Other options:
    see :class:`PhantomOptions`."""
    opt = PhantomOptions(n_patients=n_patients, seed=seed, image_size=image_size, gaze_fraction=gaze_fraction,
                         subtlety=subtlety, **kwargs)
    opt.check()
    out = Path(out_dir)
    if out.exists():
        if not (out / "phantom" / "manifest.json").is_file() and any(out.iterdir()):
            raise ConfigError(f"{out} exists, is not empty and is no phantom folder; refusing to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    base = {**findings.DEFAULT_PREVALENCE, **opt.prevalence}
    master = np.random.default_rng([opt.seed, 2**31 - 1])
    subjects = [str(10_000_000 + int(i)) for i in master.choice(9_000_000, size=n_patients, replace=False)]
    n_st = master.choice([1, 2, 3, 4], size=n_patients, p=[0.45, 0.3, 0.15, 0.1])
    study_pool = [str(50_000_000 + int(i)) for i in master.choice(9_000_000, size=int(n_st.sum()), replace=False)]
    order = master.permutation(n_patients)
    n_test = int(round(opt.test_fraction * n_patients)) if n_patients >= 3 else 0
    n_val = int(round(opt.val_fraction * n_patients)) if n_patients >= 3 else 0
    n_test, n_val = max(n_test, int(n_patients >= 3 and opt.test_fraction > 0)), max(
        n_val, int(n_patients >= 3 and opt.val_fraction > 0))
    split_of = {int(p): ("test" if r < n_test else "val" if r < n_test + n_val else "train") for r, p in enumerate(order)}
    starts = np.concatenate([[0], np.cumsum(n_st)])
    jobs = [(i, subjects[i], study_pool[starts[i]:starts[i + 1]], split_of[i], opt, base, out)
            for i in range(n_patients)]
    tables: dict[str, list] = {}
    bar = dict(total=n_patients, desc="phantom", unit="patient", disable=not show_progress(opt.progress) or n_patients < 50)
    if opt.workers > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(opt.workers) as pool:
            results = list(tqdm(pool.imap(_patient_job, jobs, chunksize=4), **bar))
    else:
        results = [_patient_job(j) for j in tqdm(jobs, **bar)]
    for rows in results:  # merged in patient order: identical output for any number of workers
        for k, v in rows.items():
            if isinstance(v, list):
                tables.setdefault(k, []).extend(v)
    return _write_tables(out, opt, tables)


def _patient_job(job: tuple) -> dict:
    return _patient(*job)


def _write_tables(out: Path, opt: PhantomOptions, t: dict[str, list]) -> PhantomSummary:
    meta_cols = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                 "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                 "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]
    writer.write_csv(out / "mimic-cxr-2.0.0-metadata.csv", t["meta"], meta_cols)
    writer.write_csv(out / "mimic-cxr-2.0.0-split.csv", t["split"], ["dicom_id", "study_id", "subject_id", "split"])
    writer.write_csv(out / "mimic-cxr-2.0.0-chexpert.csv", t["chexpert"],
                     ["subject_id", "study_id"] + sorted(CHEXPERT_CLASSES))
    writer.write_csv(out / "phantom" / "boxes.csv", t["boxes"],
                     ["dicom_id", "index", "finding", "state", "kind", "side", "zone", "severity", "mask_key",
                      "x1", "y1", "x2", "y2"])
    writer.write_csv(out / "phantom" / "sentences.csv", t["sentences"],
                     ["source", "reading_id", "dicom_id", "sentence_index", "sentence", "start", "end", "finding_index",
                      "finding", "mask_key", "regions", "x1", "y1", "x2", "y2", "fixation_time_inside"])
    if t["master"]:
        writer.write_csv(out / "egd" / "master_sheet.csv", t["master"], list(t["master"][0]))
        writer.write_csv(out / "egd" / "fixations.csv", t["egd_fix"], writer.EGD_COLUMNS)
        writer.write_csv(out / "reflacx" / "main_data" / "metadata_phase_3.csv", t["reflacx"], list(t["reflacx"][0]))
    writer.write_json(out / "srrg" / "srrg_findings.json",
                      {name: [r["item"] for r in t["srrg"] if r["split"] == name] for name in ("train", "val", "test")})
    study_labels = {(r["subject_id"], r["study_id"]): r for r in t["chexpert"]}
    split_of = {r["dicom_id"]: r["split"] for r in t["split"]}
    per_split: dict[str, dict[str, int]] = {}
    positives = dict.fromkeys(CHEXPERT_CLASSES, 0)
    inv = {1.0: 1, 0.0: 2, -1.0: 3, "": 0}
    for m in t["meta"]:
        s = per_split.setdefault(split_of[m["dicom_id"]], {"images": 0, "studies": 0, "patients": 0})
        s["images"] += 1
        lab = binarize_labels([inv[study_labels[(m["subject_id"], m["study_id"])][c]] for c in CHEXPERT_CLASSES])
        for c, b in zip(CHEXPERT_CLASSES, lab):
            positives[c] += int(b)
    for name in per_split:
        rows = [r for r in t["split"] if r["split"] == name]
        per_split[name]["studies"] = len({r["study_id"] for r in rows})
        per_split[name]["patients"] = len({r["subject_id"] for r in rows})
    summary = PhantomSummary(out, opt.n_patients, len(t["chexpert"]), len(t["meta"]), len(t["master"]),
                             len(t["reflacx"]), per_split, positives)
    manifest: dict[str, Any] = {"generator": GENERATOR_VERSION, "cogaze_version": __version__, "seed": opt.seed,
                "options": dataclasses.asdict(opt), "counts": {k: v for k, v in summary.to_dict().items()
                                                               if k != "out_dir"},
                "views": {v: sum(m["ViewPosition"] == v for m in t["meta"]) for v in ("PA", "AP", "LATERAL")},
                "with_context_studies": int(sum(t["context"])), "screen": {"pixels": list(reading.SCREEN_PX),
                                                         "size_m": list(reading.SCREEN_M)}}
    manifest["options"].pop("progress", None)
    manifest["options"].pop("workers", None)
    writer.write_json(out / "phantom" / "manifest.json", manifest)
    return summary


def render_frontal_samples(n: int, seed: int = 0, image_size: int = 128, subtlety: float = 0.5,
                           prevalence: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frontal (PA/AP) phantom images and their raw study labels, in memory (no files).

    The same code path as :func:`generate_phantom` (scenario -> findings -> report labels -> rendering);
    used by the visibility test and quick experiments. Returns uint8 (n, S, S) and int (n, 14).
    """
    base = {**findings.DEFAULT_PREVALENCE, **(prevalence or {})}
    vis, size_gain = 1.5 - subtlety, 1.25 - 0.5 * subtlety
    images = np.zeros((n, image_size, image_size), dtype=np.uint8)
    labels = np.zeros((n, len(CHEXPERT_CLASSES)), dtype=np.int64)
    for i in range(n):
        rng = np.random.default_rng([seed, i, 1])
        ctx, fnd, rep = make_study_report(rng, base, 0.0)
        params = anatomy.sample_anatomy(rng, _views(rng, 1, ctx.scenario)[0], bool(rng.random() < 0.5))
        findings.adjust_anatomy(params, fnd, vis)
        cv = anatomy.draw_anatomy(image_size, params, rng)
        for f in fnd:
            findings.render_finding(cv, f, vis, size_gain)
        images[i] = anatomy.compose(cv, rng)
        labels[i] = rep.labels
    return images, labels
