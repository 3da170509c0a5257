"""Fuzz suite, data side: damaged dataset folders, gaze files and settings given to `data validate`,
`data prepare` and `gaze build`. Each case asserts the exit code and the message (tests/fuzz_support.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from fuzz_support import (
    copy_dataset,
    edit_json,
    egd_readings,
    expect,
    fuzz_kind,
    images_of,
    png_header,
    read_rows,
    set_cell,
    transcript,
    write_rows,
)

VALIDATE = ["data", "validate", "{root}", "--workers", "1", "-q"]
GAZE = ["gaze", "build", "{root}", "--out", "{tmp}/g.safetensors", "--grid", "8", "--image-size", "64", "-q"]
PREPARE = ["data", "prepare", "{root}", "--out", "{tmp}/store", "--size", "32", "--workers", "1", "-q"]


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # error | skip | flag (fuzz_support)
    damage: Callable[[Path], None] | None
    argv: list[str]
    code: int
    pattern: str


def _first(root: Path, split: str = "train") -> Path:
    return images_of(root, split)[0]


def _truncate(path: Path, keep: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _bigger(path: Path) -> None:  # a valid 200 x 150 image: above --max-pixels 1000
    Image.new("L", (200, 150), 80).save(path, format="JPEG")


def _header_only(name: str) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        header, _ = read_rows(root / name)
        write_rows(root / name, header, [])
    return damage


def _no_val(root: Path) -> None:
    path = root / "mimic-cxr-2.0.0-split.csv"
    header, rows = read_rows(path)
    write_rows(path, header, [[*r[:3], "train" if r[3] in ("validate", "val") else r[3]] for r in rows])


def _rename_id(column: str, value: str) -> Callable[[Path], None]:
    """Give the first metadata row's image an id that is a path (and keep split/label rows consistent)."""
    def damage(root: Path) -> None:
        meta = root / "mimic-cxr-2.0.0-metadata.csv"
        old = set_cell(meta, 0, column, value)
        if column == "dicom_id":
            split = root / "mimic-cxr-2.0.0-split.csv"
            header, rows = read_rows(split)
            write_rows(split, header, [[value if c == old else c for c in r] for r in rows])
    return damage


def _egd_cell(column: str, value: object, row: int = 1) -> Callable[[Path], None]:
    """Set ``column`` of fixation ``row`` of the first EGD reading."""
    def damage(root: Path) -> None:
        first = next(iter(egd_readings(root).values()))
        set_cell(root / "egd" / "fixations.csv", first[row], column, value)
    return damage


def _egd_transcript(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        dicom = next(iter(egd_readings(root)))
        edit_json(transcript(root, dicom), change)
    return damage


def _blank_transcript(data: dict) -> dict:
    data["full_text"] = "   "
    for item in data["time_stamped_text"]:
        item["phrase"] = " \t "
    return data


def _punctuation_sentence(data: dict) -> dict:
    last = data["time_stamped_text"][-1]
    data["time_stamped_text"].append({"phrase": "...", "begin_time": last["end_time"],
                                      "end_time": last["end_time"] + 0.2})
    return data


def _nested_json(root: Path) -> None:
    dicom = next(iter(egd_readings(root)))
    transcript(root, dicom).write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")


def _egd_escape(root: Path) -> None:
    """Fixations of an image that is not in the records, located through a master_sheet path that climbs out."""
    egd = root / "egd"
    header, rows = read_rows(egd / "fixations.csv")
    col = header.index("DICOM_ID")
    rows.append([*rows[0][:col], "outsider", *rows[0][col + 1:]])
    write_rows(egd / "fixations.csv", header, rows)
    mh, mrows = read_rows(egd / "master_sheet.csv")
    mrows.append(["outsider", "../../../../etc/hosts", *mrows[0][2:]])
    write_rows(egd / "master_sheet.csv", mh, mrows)
    (egd / "audio_segmentation_transcripts" / "outsider").mkdir()
    (egd / "audio_segmentation_transcripts" / "outsider" / "transcript.json").write_text(json.dumps(
        {"full_text": "Normal.", "time_stamped_text": [{"phrase": "Normal.", "begin_time": 0, "end_time": 1}]}))


def _egd_id_path(root: Path) -> None:
    first = next(iter(egd_readings(root).values()))
    for i in first:
        set_cell(root / "egd" / "fixations.csv", i, "DICOM_ID", "../../escape")


def _reflacx_meta(root: Path) -> Path:
    return sorted((root / "reflacx" / "main_data").glob("metadata_phase_*.csv"))[0]


def _reflacx_id(root: Path) -> None:
    set_cell(_reflacx_meta(root), 0, "id", "../../P000R000000")


def _reflacx_blank(root: Path) -> None:
    rid = read_rows(_reflacx_meta(root))[1][0][0]
    folder = root / "reflacx" / "main_data" / rid
    (folder / "transcription.txt").write_text("  \n", encoding="utf-8")
    header, rows = read_rows(folder / "timestamps_transcription.csv")
    write_rows(folder / "timestamps_transcription.csv", header, [[".", *r[1:]] for r in rows])


def _two_broken(root: Path) -> None:
    images = images_of(root, "train")
    images[0].write_bytes(b"")
    Image.new("L", (1, 1)).save(images[1], format="JPEG")


CASES = [
    # -- data validate reads every pixel
    Case("zero-byte image", "error", lambda r: _first(r).write_bytes(b""), VALIDATE, 1,
         r"\.jpg: image \S+: image file is empty \(0 bytes\)"),
    Case("zero-byte image, --fast", "error", lambda r: _first(r).write_bytes(b""), [*VALIDATE, "--fast"], 1,
         r"image file is empty \(0 bytes\)"),
    Case("truncated JPEG (header intact)", "error", lambda r: _truncate(_first(r)), VALIDATE, 1,
         r"\.jpg: image \S+: corrupt or unreadable image: image file is truncated"),
    Case("non-image bytes named .jpg", "error", lambda r: _first(r).write_bytes(b"%PDF-1.4 not an image"), VALIDATE,
         1, r"corrupt or unreadable image: cannot identify image file"),
    Case("1x1 image", "error", lambda r: Image.new("L", (1, 1)).save(_first(r), format="JPEG"), VALIDATE, 1,
         r"image is only 1x1 pixels \(shorter side below the minimum of 16\)"),
    Case("4000x10 image", "error", lambda r: Image.new("L", (4000, 10)).save(_first(r), format="JPEG"), VALIDATE,
         1, r"image is only 4000x10 pixels"),
    Case("20000x20000 decompression bomb", "error", lambda r: png_header(_first(r), 20000, 20000), VALIDATE, 1,
         r"\.jpg: image \S+: image too large to decode safely: Image size \(400000000 pixels\) exceeds limit"),
    Case("bomb in an image with gaze, --fast", "error",
         lambda r: png_header(next(p for p in images_of(r, "train") if p.stem in egd_readings(r)), 20000, 20000),
         [*VALIDATE, "--fast"], 1, r"image too large to decode safely"),
    Case("image above --max-pixels", "error", lambda r: _bigger(_first(r)), [*VALIDATE, "--max-pixels", "1000"], 1,
         r"image is 200x150 = 30,000 pixels, above the limit of 1,000"),
    Case("metadata CSV with a header and no rows", "error", _header_only("mimic-cxr-2.0.0-metadata.csv"), VALIDATE,
         1, r"the dataset has no images: its metadata CSV lists no images"),
    Case("empty val split", "flag", _no_val, VALIDATE, 0, r"warning: .*empty split\(s\): val"),
    Case("zero-byte image, --on-error raise", "error", lambda r: _first(r).write_bytes(b""),
         [*VALIDATE, "--on-error", "raise"], 1, r"error: .*\.jpg: image \S+: image file is empty"),
    # -- ids and relative paths never leave the dataset folder
    Case("dicom_id climbing out", "error", _rename_id("dicom_id", "../../../../etc/passwd"), VALIDATE, 1,
         r"metadata\.csv, line 2: dicom_id '\.\./\.\./\.\./\.\./etc/passwd' cannot be used as a file name"),
    Case("subject_id with a slash", "error", _rename_id("subject_id", "10/../../x"), VALIDATE, 1,
         r"metadata\.csv, line 2: subject_id '10/\.\./\.\./x' cannot be used as a file name"),
    Case("EGD master_sheet path climbing out", "error", _egd_escape, VALIDATE, 1,
         r"master_sheet\.csv path of outsider '\.\./\.\./\.\./\.\./etc/hosts' leads outside"),
    Case("EGD DICOM_ID climbing out", "error", _egd_id_path, VALIDATE, 1,
         r"fixations\.csv, line \d+: DICOM_ID '\.\./\.\./escape' cannot be used as a file name"),
    Case("REFLACX reading id climbing out", "error", _reflacx_id, VALIDATE, 1,
         r"metadata_phase_\d\.csv, line 2: reading id '\.\./\.\./P000R000000' cannot be used as a file name"),
    # -- gaze numbers that would poison targets
    Case("FPOGD=1e12", "error", _egd_cell("FPOGD", 1e12), GAZE, 1,
         r"fixations\.csv, line 3: implausible fixation duration 1e\+12 s \(more than 10 s\)"),
    Case("FPOGD=1e12, --on-error skip", "skip", _egd_cell("FPOGD", 1e12), [*GAZE, "--on-error", "skip"], 0,
         r"(?s)(?=.*skipped: \S+fixations\.csv, line 3: implausible fixation duration)"
         r"(?=.*1 bad item\(s\) skipped while loading)"),
    Case("FPOGS far after the transcript", "error", _egd_cell("FPOGS", 1e9, row=2), GAZE, 1,
         r"fixations\.csv, line 4: fixation at 1e\+09-.* s is implausibly far from the transcript's time span"),
    Case("negative FPOGD", "error", _egd_cell("FPOGD", -0.5), GAZE, 1, r"line 3: negative fixation duration"),
    Case("X_ORIGINAL=nan", "error", _egd_cell("X_ORIGINAL", "nan"), GAZE, 1,
         r"line 3: column 'X_ORIGINAL': 'nan' is not a finite number"),
    Case("blank EGD transcript", "error", _egd_transcript(_blank_transcript), GAZE, 1,
         r"transcript\.json: transcript has no text \(empty, whitespace or punctuation only\)"),
    Case("blank EGD transcript, --on-error skip", "skip", _egd_transcript(_blank_transcript),
         [*GAZE, "--on-error", "skip"], 0, r"(?s)(?=.*skipped: \S+transcript\.json: transcript has no text)(?=.*1 bad item\(s\) skipped)"),
    Case("punctuation-only transcript sentence", "skip", _egd_transcript(_punctuation_sentence), VALIDATE, 0,
         r"warning: .*audio_segmentation_transcripts: 1 empty transcript sentence\(s\) \(no letter or digit\) "
         r"dropped in 1 reading\(s\)"),
    Case("blank REFLACX transcript", "error", _reflacx_blank, [*GAZE, "--on-error", "raise"], 1,
         r"transcription\.txt: transcript has no text"),
    Case("deeply nested transcript JSON", "error", _nested_json, VALIDATE, 1,
         r"transcript\.json: JSON nested too deeply to read"),
    # -- gaze settings
    Case("lead_s=nan", "error", None, [*GAZE, "--set", "lead_s=nan"], 1,
         r"override 'lead_s=nan': config key 'lead_s' = nan is out of range: allowed >= 0 and <= 60"),
    Case("lead_s=-1000", "error", None, [*GAZE, "--set", "lead_s=-1000"], 1,
         r"config key 'lead_s' = -1000\.0 is out of range: allowed >= 0 and <= 60"),
    Case("sigma_deg=0", "error", None, [*GAZE, "--set", "sigma_deg=0"], 1, r"need sigma_deg > 0"),
    Case("screen.distance_mm=inf", "error", None, [*GAZE, "--set", "screen.distance_mm=.inf"], 1,
         r"config key 'screen\.distance_mm' = inf is out of range: allowed > 0"),
    Case("--grid 0", "error", None, [*GAZE, "--grid", "0"], 2,
         r"Invalid value for '--grid': 0 is not in the range x>=1"),
    Case("--image-size 0", "error", None, [*GAZE, "--image-size", "0"], 2,
         r"Invalid value for '--image-size': 0 is not in the range x>=1"),
    Case("--grid larger than the image", "error", None, [*GAZE, "--grid", "100"], 1,
         r"grid = 100 is out of range: allowed >= 1 and <= the image size 64"),
    # -- data prepare
    Case("prepare: broken images, --on-error skip", "skip", _two_broken, [*PREPARE, "--on-error", "skip"], 0,
         r"2 item\(s\) skipped \(--on-error skip\): 0 while loading, 2 image\(s\) that cannot be decoded"),
    Case("prepare: zero-byte image", "error", lambda r: _first(r).write_bytes(b""), PREPARE, 1,
         r"\.jpg: image \S+: corrupt or unreadable image"),
    Case("prepare: 1x1 image", "error", lambda r: Image.new("L", (1, 1)).save(_first(r), format="JPEG"), PREPARE,
         1, r"image is only 1x1 pixels"),
    # -- backbone train
    Case("backbone train: broken images, --on-error skip", "skip", _two_broken,
         ["backbone", "train", "{root}", "--out", "{tmp}/bb", "--on-error", "skip", "epochs=1", "-q"], 0,
         r"(?s)(?=.*skipped: .*image file is empty)(?=.*2 item\(s\) skipped \(--on-error skip)"),
    Case("backbone train: zero-byte image", "error", lambda r: _first(r).write_bytes(b""),
         ["backbone", "train", "{root}", "--out", "{tmp}/bb", "epochs=1", "-q"], 1,
         r"\.jpg: corrupt or unreadable image"),
    Case("prepare: --shard-images 0", "error", None, [*PREPARE, "--shard-images", "0"], 2,
         r"Invalid value for '--shard-images'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, fuzz_phantom, tmp_path, capsys, record_property):
    fuzz_kind(record_property, case.kind)
    root = copy_dataset(fuzz_phantom, tmp_path / "ds")
    if case.damage is not None:
        case.damage(root)
    expect(capsys, [a.format(root=root, tmp=tmp_path) for a in case.argv], case.code, case.pattern)


def test_gaze_skip_keeps_the_clean_maps(fuzz_phantom, tmp_path, capsys, record_property):
    """FPOGD=1e12 under --on-error skip: the reading's maps equal those built with that row deleted."""
    from safetensors.numpy import load_file

    fuzz_kind(record_property, "skip")
    bad = copy_dataset(fuzz_phantom, tmp_path / "bad")
    _egd_cell("FPOGD", 1e12)(bad)
    clean = copy_dataset(fuzz_phantom, tmp_path / "clean")
    rows = next(iter(egd_readings(clean).values()))
    header, table = read_rows(clean / "egd" / "fixations.csv")
    write_rows(clean / "egd" / "fixations.csv", header, [r for i, r in enumerate(table) if i != rows[1]])
    for root in (bad, clean):
        expect(capsys, [a.format(root=root, tmp=root) for a in [*GAZE, "--on-error", "skip"]], 0, "wrote")
    a, b = load_file(str(bad / "g.safetensors")), load_file(str(clean / "g.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_downstream_split_path_climbing_out(tmp_path, record_property):
    """A downstream split file naming ../../x.png is an error naming the split file and line."""
    from cogaze.data.downstream.shenzhen import load_shenzhen
    from cogaze.errors import DataError

    fuzz_kind(record_property, "error")
    split = tmp_path / "split"
    split.mkdir()
    (split / "ShenzhenCXR_train_data.txt").write_text("CHNCXR_0001_0.png,0\n../../../etc/x_1.png,1\n")
    with pytest.raises(DataError, match=r"ShenzhenCXR_train_data\.txt, line 2: image '\.\./\.\./\.\./etc/x_1\.png' "
                                        r"leads outside"):
        load_shenzhen(tmp_path / "images", split, "train", check_images=False)
    skipped = load_shenzhen(tmp_path / "images", split, "train", check_images=False, on_error="skip")
    assert [r.image_id for r in skipped.records] == ["CHNCXR_0001_0"] and skipped.problems.n_skipped == 1
