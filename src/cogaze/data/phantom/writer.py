"""Writes the phantom in the real on-disk formats (docs/formats.md), byte-deterministically.

MIMIC-CXR-JPG tree and CSVs, EGD (one fixations.csv, per-image transcript.json), REFLACX (per-reading
folders) and the phantom ground truth under ``phantom/``. No timestamps anywhere; JSON keys sorted;
JPEG encoder settings fixed; npz archives written with fixed zip dates.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cogaze.data.phantom.reading import SCREEN_PX, SimReading

JPEG_QUALITY = 92
REFLACX_ANOMALIES = {
    "Abnormal mediastinal contour": ("Enlarged Cardiomediastinum",),
    "Acute fracture": ("Fracture",),
    "Atelectasis": ("Atelectasis",),
    "Consolidation": ("Consolidation", "Pneumonia"),
    "Enlarged cardiac silhouette": ("Cardiomegaly",),
    "Enlarged hilum": (),
    "Groundglass opacity": ("Lung Opacity",),
    "Hiatal hernia": (),
    "High lung volume / emphysema": (),
    "Interstitial lung disease": (),
    "Lung nodule or mass": ("Lung Lesion",),
    "Pleural abnormality": ("Pleural Effusion", "Pleural Other"),
    "Pneumothorax": ("Pneumothorax",),
    "Pulmonary edema": ("Edema",),
    "Support devices": ("Support Devices",),
    "Quality issue": (),
    "Other": (),
}
"""REFLACX phase-3 anomaly columns and the CheXbert classes that map onto each."""
REFLACX_ELLIPSE_FILE_COLUMNS = ["id", "xmin", "ymin", "xmax", "ymax", "certainty", *REFLACX_ANOMALIES]
"""Columns of REFLACX's ``anomaly_location_ellipses.csv`` (labels as True/False)."""


def study_dir(subject_id: str, study_id: str) -> str:
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_jpeg(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_jpeg(pixels))


def encode_jpeg(pixels: np.ndarray) -> bytes:
    """Grayscale baseline JPEG with fixed settings (same pixels -> same bytes)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False,
                                           progressive=False)
    return buf.getvalue()


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False, lineterminator="\n")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed ``.npz`` readable by ``np.load`` with fixed zip dates (np.savez stamps the clock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for key in sorted(arrays):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue(), compresslevel=1)  # fast; masks compress well anyway
    path.write_bytes(buf.getvalue())


EGD_COLUMNS = ["DICOM_ID", "CNT", "TIME(in secs)", "TIMETICK(f=10000000)", "FPOGX", "FPOGY", "FPOGS", "FPOGD",
               "FPOGID", "FPOGV", "BPOGX", "BPOGY", "BPOGV", "LPD", "RPD", "SACCADE_MAG", "SACCADE_DIR",
               "X_ORIGINAL", "Y_ORIGINAL"]


def egd_fixation_rows(dicom_id: str, r: SimReading, start_cnt: int) -> list[dict]:
    """EGD fixation rows: normalised screen coordinates (image padded to the screen) plus originals."""
    sx, sy = r.screen.to_screen(r.x, r.y)
    fx, fy = sx / SCREEN_PX[0], sy / SCREEN_PX[1]
    rows = []
    for i in range(len(r.x)):
        dx = 0.0 if i == 0 else float(sx[i] - sx[i - 1])
        dy = 0.0 if i == 0 else float(sy[i] - sy[i - 1])
        rows.append({
            "DICOM_ID": dicom_id, "CNT": start_cnt + i, "TIME(in secs)": round(float(r.start[i]), 4),
            "TIMETICK(f=10000000)": int(round(float(r.start[i]) * 1e7)), "FPOGX": round(float(fx[i]), 5),
            "FPOGY": round(float(fy[i]), 5), "FPOGS": round(float(r.start[i]), 4),
            "FPOGD": round(float(r.end[i] - r.start[i]), 4), "FPOGID": i + 1, "FPOGV": 1,
            "BPOGX": round(float(fx[i]), 5), "BPOGY": round(float(fy[i]), 5), "BPOGV": 1,
            "LPD": round(float(r.pupil[i]) * 30, 3), "RPD": round(float(r.pupil[i]) * 30, 3),
            "SACCADE_MAG": round(float(np.hypot(dx, dy)), 3),
            "SACCADE_DIR": round(float(np.degrees(np.arctan2(-dy, dx)) % 360), 3),
            "X_ORIGINAL": round(float(r.x[i]), 2), "Y_ORIGINAL": round(float(r.y[i]), 2),
        })
    return rows


def egd_transcript(r: SimReading) -> dict:
    return {"full_text": r.paragraph,
            "time_stamped_text": [{"phrase": p.text, "begin_time": p.start, "end_time": p.end} for p in r.phrases]}


REFLACX_FIX_COLUMNS = ["timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position",
                       "pupil_area_normalized", "angular_resolution_x_pixels_per_degree",
                       "angular_resolution_y_pixels_per_degree", "window_width", "window_level",
                       "xmin_shown_from_image", "ymin_shown_from_image", "xmax_shown_from_image",
                       "ymax_shown_from_image", "xmin_in_screen_coordinates", "ymin_in_screen_coordinates",
                       "xmax_in_screen_coordinates", "ymax_in_screen_coordinates"]


def write_reflacx_reading(folder: Path, r: SimReading) -> None:
    """``fixations.csv``, ``timestamps_transcription.csv`` and ``transcription.txt`` of one reading."""
    ppx, ppy = r.screen.ppd(r.x, r.y)
    x0, y0, x1, y1 = r.screen.rect
    w, h = r.screen.width, r.screen.height
    rows = [{"timestamp_start_fixation": float(r.start[i]), "timestamp_end_fixation": float(r.end[i]),
             "x_position": float(r.x[i]), "y_position": float(r.y[i]), "pupil_area_normalized": float(r.pupil[i]),
             "angular_resolution_x_pixels_per_degree": round(float(ppx[i]), 4),
             "angular_resolution_y_pixels_per_degree": round(float(ppy[i]), 4),
             "window_width": 256, "window_level": 128, "xmin_shown_from_image": 0, "ymin_shown_from_image": 0,
             "xmax_shown_from_image": w, "ymax_shown_from_image": h,
             "xmin_in_screen_coordinates": round(x0, 2), "ymin_in_screen_coordinates": round(y0, 2),
             "xmax_in_screen_coordinates": round(x1, 2), "ymax_in_screen_coordinates": round(y1, 2)}
            for i in range(len(r.x))]
    write_csv(folder / "fixations.csv", rows, REFLACX_FIX_COLUMNS)
    words = []
    for p in r.phrases:
        toks = p.text.split()
        lens = np.array([len(t) + 1 for t in toks], dtype=float)
        edges = p.start + np.concatenate([[0], np.cumsum(lens)]) / lens.sum() * (p.end - p.start)
        for t, a, b in zip(toks, edges[:-1], edges[1:]):
            words.append({"word": t, "timestamp_start_word": round(float(a), 3),
                          "timestamp_end_word": round(float(b), 3)})
    write_csv(folder / "timestamps_transcription.csv", words,
              ["word", "timestamp_start_word", "timestamp_end_word"])
    write_text(folder / "transcription.txt", r.paragraph)


def write_reflacx_ellipses(folder: Path, findings: list[tuple[str, int, tuple[int, int, int, int]]],
                           reading_id: str) -> None:
    """``anomaly_location_ellipses.csv`` of one reading: per (label, state, box) finding with a REFLACX
    column, the ellipse inscribed in its box; certainty 5 (likely) when present, 3 (possibly) when
    uncertain, as in the reading's metadata row."""
    rows: list[dict] = []
    for label, state, (x0, y0, x1, y1) in findings:
        columns = {col: label in classes for col, classes in REFLACX_ANOMALIES.items()}
        if not any(columns.values()):
            continue
        rows.append({"id": f"{reading_id}_{len(rows)}", "xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1,
                     "certainty": 5 if state == 1 else 3, **{c: str(v) for c, v in columns.items()}})
    write_csv(folder / "anomaly_location_ellipses.csv", rows, REFLACX_ELLIPSE_FILE_COLUMNS)
