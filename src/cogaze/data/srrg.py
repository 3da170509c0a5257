"""The SRRG annotation JSON (structured report generation, SRRG-Findings; docs/formats.md).

Top level: ``{"train": [...], "val": [...], "test": [...]}`` (``validate`` / ``valid`` are accepted
for ``val``). One item per study::

    {"id": "mimic-50414267",                      # or a CheXpert-Plus id
     "image_paths": ["files/p10/p10000032/s50414267/02aa804e.jpg", ...],
     "view_positions": ["PA", "LATERAL", ...],     # same length as image_paths
     "findings_section": "Lungs and Airways:\\n- ...\\n\\nPleura:\\n- ...",
     "history_section": "Cough." or null}

Policies: every key is required (``history_section`` may be null or empty: context absent); the
findings must parse as structured text with the fixed headers only (an unknown header, a line that is
neither header nor bullet, a bullet outside any section or a repeated header is a DataError naming
the file, the split, the item index and its id); duplicate ids are errors. Under ``on_error="skip"``
a bad item is dropped and counted instead. Images of ids containing ``mimic`` resolve under the
MIMIC-CXR-JPG root, the others under the CheXpert-Plus root. One image per study is used: a PA view
if there is one, else an AP view, else any (the choice among several is seeded per study id).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cogaze.data.gaze_io import read_json
from cogaze.data.paths import inside
from cogaze.data.records import parse_split, parse_view
from cogaze.data.structured import SRRG_HEADERS, format_structured, parse_structured
from cogaze.errors import DataError, OnError, Problems

REQUIRED_KEYS = ("id", "image_paths", "view_positions", "findings_section", "history_section")
_MIMIC_PATH = re.compile(r"(?:^|/)p\d{2}/p(\d+)/s(\d+)/")


@dataclass(frozen=True)
class SRRGItem:
    """One SRRG study with the image chosen for it."""

    id: str
    split: str
    image_path: Path
    """The chosen image (joined to its dataset root when one was given)."""
    view: str
    findings: str
    """Structured findings in the canonical layout (headers in the annotation's order)."""
    history: str
    """History text ('' when absent: the study has no clinical context)."""
    image_paths: tuple[str, ...]
    view_positions: tuple[str, ...]
    source: str
    """'mimic' or 'chexpert' (from the id)."""

    @property
    def subject_id(self) -> str:
        """The MIMIC patient id read from the image path (``files/pXX/p<subject>/s<study>/``), else the id."""
        m = _MIMIC_PATH.search(self.image_paths[0].replace("\\", "/"))
        return m.group(1) if m else self.id

    @property
    def context(self) -> str:
        """The context string the encoder reads: ``"[CLS] " + history``, or ``"[PAD]"`` without history."""
        return f"[CLS] {self.history}" if self.history else "[PAD]"


def choose_image(views: Sequence[str], rng: random.Random) -> int:
    """Index of the image used for a study: a random PA if any, else a random AP, else a random one."""
    for wanted in ("PA", "AP"):
        hits = [i for i, v in enumerate(views) if v == wanted]
        if hits:
            return hits[rng.randrange(len(hits))] if len(hits) > 1 else hits[0]
    return rng.randrange(len(views))


def _where(split: str, index: int, item: object) -> str:
    rid = item.get("id") if isinstance(item, dict) else None
    return f"{split}[{index}]" + (f" (id {rid!r})" if isinstance(rid, str) and rid.strip() else "")


def _string_list(value: object, key: str, where: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: {key} must be a non-empty list", path)
    out = []
    for j, v in enumerate(value):
        if v is not None and not isinstance(v, str):
            raise DataError(f"{where}: {key}[{j}] must be a string, got {type(v).__name__}", path)
        out.append("" if v is None else v.strip())
    return out


def _item(item: object, split: str, index: int, path: Path, roots: dict[str, Path | None], seed: int,
          problems: Problems) -> SRRGItem:
    where = _where(split, index, item)
    if not isinstance(item, dict):
        raise DataError(f"{where}: item must be an object", path)
    missing = [k for k in REQUIRED_KEYS if k not in item]
    if missing:
        raise DataError(f"{where}: missing key(s) {', '.join(missing)} (SRRG items need {', '.join(REQUIRED_KEYS)})",
                        path)
    rid = item["id"]
    if not isinstance(rid, str) or not rid.strip():
        raise DataError(f"{where}: id must be a non-empty string", path)
    rid = rid.strip()
    images = _string_list(item["image_paths"], "image_paths", where, path)
    if any(not p for p in images):
        raise DataError(f"{where}: image_paths has an empty entry", path)
    raw_views = _string_list(item["view_positions"], "view_positions", where, path)
    if len(raw_views) != len(images):
        raise DataError(f"{where}: {len(images)} image_paths but {len(raw_views)} view_positions", path)
    views = []
    for v in raw_views:
        try:
            views.append(parse_view(v))
        except ValueError:
            problems.warn(f"{path}: {where}: unknown view position {v!r} treated as UNKNOWN")
            views.append("UNKNOWN")
    findings = item["findings_section"]
    if not isinstance(findings, str) or not findings.strip():
        raise DataError(f"{where}: findings_section must be a non-empty string", path)
    parsed = parse_structured(findings)
    if parsed.problems:
        raise DataError(f"{where}: findings_section: {parsed.problems[0]} (headers must be one of "
                        f"{'; '.join(SRRG_HEADERS)}, each line under them a '- ' bullet)", path)
    history = item["history_section"]
    if history is not None and not isinstance(history, str):
        raise DataError(f"{where}: history_section must be a string or null, got {type(history).__name__}", path)
    source = "mimic" if "mimic" in rid else "chexpert"
    chosen = choose_image(views, random.Random(f"{seed}:{rid}"))
    root = roots[source]
    rel = images[chosen]
    try:
        image_path = inside(root, rel, f"{where}: image path") if root is not None else Path(rel)
    except ValueError as err:
        raise DataError(str(err), path) from None
    return SRRGItem(id=rid, split=split, image_path=image_path,
                    view=views[chosen], findings=format_structured(parsed.sections), history=(history or "").strip(),
                    image_paths=tuple(images), view_positions=tuple(raw_views), source=source)


def read_srrg_json(path: str | Path, mimic_root: str | Path | None = None, chexpert_root: str | Path | None = None,
                   splits: Sequence[str] | None = None, seed: int = 0, on_error: OnError = "raise",
                   problems: Problems | None = None) -> dict[str, list[SRRGItem]]:
    """Read an SRRG annotation JSON into items per split (``splits``: only these; default all present).

    See the module docstring for the validation policy. ``seed`` fixes which image is chosen when a
    study has several of the preferred view.
    """
    problems = problems if problems is not None else Problems(on_error)
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError("SRRG annotation JSON must be an object with 'train', 'val' and/or 'test' lists", path)
    by_split: dict[str, list] = {}
    for key, value in data.items():
        try:
            split = parse_split(key)
        except ValueError:
            problems.warn(f"{path}: top-level key {key!r} is no split (train/val/test); ignored")
            continue
        if not isinstance(value, list):
            raise DataError(f"split {key!r} must be a list of items, got {type(value).__name__}", path)
        if split in by_split:
            raise DataError(f"split {split!r} given twice (as {key!r} and an alias)", path)
        by_split[split] = value
    if not by_split:
        raise DataError(f"no split found (keys: {', '.join(map(str, data)) or 'none'}); expected train/val/test", path)
    wanted = [parse_split(s) for s in splits] if splits is not None else list(by_split)
    absent = [s for s in wanted if s not in by_split]
    if absent:
        raise DataError(f"split(s) {', '.join(absent)} not in the file (found {', '.join(by_split)})", path)
    roots = {"mimic": Path(mimic_root) if mimic_root is not None else None,
             "chexpert": Path(chexpert_root) if chexpert_root is not None else None}
    seen: dict[str, str] = {}
    out: dict[str, list[SRRGItem]] = {}
    for split in wanted:
        items: list[SRRGItem] = []
        for index, raw in enumerate(by_split[split]):
            with problems.guard():
                item = _item(raw, split, index, path, roots, seed, problems)
                if item.id in seen:
                    raise DataError(f"{_where(split, index, raw)}: duplicate id (first in {seen[item.id]})", path)
                seen[item.id] = f"{split}[{index}]"
                items.append(item)
        out[split] = items
    return out


def srrg_item_json(item: SRRGItem) -> dict[str, object]:
    """The JSON object of ``item`` (history ``null`` when absent), e.g. to write an annotation file."""
    return {"id": item.id, "image_paths": list(item.image_paths), "view_positions": list(item.view_positions),
            "findings_section": item.findings, "history_section": item.history or None}
