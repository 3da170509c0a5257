"""Reading a whole dataset folder (docs/formats.md): MIMIC part plus optional EGD and REFLACX gaze."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cogaze.data.egd import load_egd
from cogaze.data.gaze_records import GazeReading
from cogaze.data.images import image_size
from cogaze.data.mimic import load_mimic
from cogaze.data.records import RecordSet
from cogaze.data.reflacx import load_reflacx
from cogaze.errors import DataError, OnError, Problems


@dataclass
class LoadedDataset:
    """Records with gaze attached, every problem met while loading, and the folders read."""

    records: RecordSet
    problems: Problems
    sources: dict[str, Path] = field(default_factory=dict)


class _RecordImageSizes(Mapping):
    """dicom_id -> (width, height) read lazily from the records' image headers (only when asked)."""

    def __init__(self, records: RecordSet):
        self._paths = {r.dicom_id: r.image_path for r in records if r.image_path is not None}
        self._cache: dict[str, tuple[int, int]] = {}

    def __getitem__(self, dicom: str) -> tuple[int, int]:
        if dicom not in self._cache:
            self._cache[dicom] = image_size(self._paths[dicom])
        return self._cache[dicom]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


def load_dataset(root: str | Path | None = None, on_error: OnError = "raise", *,
                 mimic_root: str | Path | None = None, egd_root: str | Path | None = None,
                 reflacx_root: str | Path | None = None, impression_only: str = "use") -> LoadedDataset:
    """Load the dataset folder ``root`` (MIMIC part required; ``egd/`` and ``reflacx/`` optional).

    Explicit ``*_root`` arguments override the default sub-folders. Gaze readings are attached to the
    records with the same dicom_id; readings for dicom_ids not among the records are counted in a
    warning. With ``on_error="skip"`` bad items are dropped and counted in ``problems``.
    ``impression_only``: studies without FINDINGS ("use" the impression, or "skip"; counted).
    """
    problems = Problems(on_error)
    if root is None and mimic_root is None:
        raise DataError("no dataset folder given (root or mimic_root)")
    base = Path(root) if root is not None else None
    mimic = Path(mimic_root) if mimic_root is not None else base
    assert mimic is not None
    sources = {"mimic": mimic}
    records = load_mimic(mimic, problems=problems, impression_only=impression_only)

    gaze: dict[str, list[GazeReading]] = {}
    egd = Path(egd_root) if egd_root is not None else (base / "egd" if base is not None else None)
    if egd is not None and (egd_root is not None or egd.is_dir()):
        sources["egd"] = egd
        for dicom, readings in load_egd(egd, problems=problems, image_sizes=_RecordImageSizes(records),
                                        image_root=mimic).items():
            gaze.setdefault(dicom, []).extend(readings)
    reflacx = Path(reflacx_root) if reflacx_root is not None else (base / "reflacx" if base is not None else None)
    if reflacx is not None and (reflacx_root is not None or reflacx.is_dir()):
        sources["reflacx"] = reflacx
        for dicom, readings in load_reflacx(reflacx, problems=problems).items():
            gaze.setdefault(dicom, []).extend(readings)

    known = {r.dicom_id for r in records}
    orphans = sorted(d for d in gaze if d not in known)
    if orphans:
        n = sum(len(gaze[d]) for d in orphans)
        problems.warn(f"{n} gaze reading(s) for {len(orphans)} dicom_id(s) not in the records ignored "
                      f"(e.g. {', '.join(orphans[:3])})")
    attached = RecordSet([r.with_gaze(gaze[r.dicom_id]) if r.dicom_id in gaze else r for r in records])
    return LoadedDataset(records=attached, problems=problems, sources=sources)
