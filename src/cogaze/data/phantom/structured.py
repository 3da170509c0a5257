"""The phantom's structured findings (SRRG layout): its own report sentences grouped under the fixed headers.

Each findings sentence goes under the header of the first class it states (a grouped negative such
as "No focal consolidation, pleural effusion or pneumothorax." goes where its first class belongs,
as SRRG's own reports do); sentences without a class ("The lungs are clear.") belong to the lungs.
Sections follow the canonical header order, sentences keep their report order. No randomness: the
text follows from the report alone, so adding it changed no image or report of the phantom.
"""

from __future__ import annotations

from cogaze.data.phantom.reports import Report
from cogaze.data.structured import SRRG_HEADERS, format_structured

CLASS_HEADER: dict[str, str] = {
    "Support Devices": "Tubes, Catheters, and Support Devices",
    "Lung Opacity": "Lungs and Airways",
    "Consolidation": "Lungs and Airways",
    "Pneumonia": "Lungs and Airways",
    "Lung Lesion": "Lungs and Airways",
    "Atelectasis": "Lungs and Airways",
    "Edema": "Lungs and Airways",
    "Pleural Effusion": "Pleura",
    "Pneumothorax": "Pleura",
    "Pleural Other": "Pleura",
    "Cardiomegaly": "Cardiovascular",
    "Enlarged Cardiomediastinum": "Hila and Mediastinum",
    "Fracture": "Musculoskeletal and Chest Wall",
}
"""Section of each phantom finding class."""


def structured_findings(report: Report) -> str:
    """The report's findings as SRRG structured text ('' when the report has no findings sentence)."""
    sections: dict[str, list[str]] = {h: [] for h in SRRG_HEADERS}
    for sentence in report.findings:
        first = next(iter(sentence.labels), None)
        header = CLASS_HEADER.get(first, "Lungs and Airways") if first is not None else "Lungs and Airways"
        sections[header].append(sentence.text)
    return format_structured(sections, order=SRRG_HEADERS)
