"""MIMIC-style reports from a phrase bank written for cogaze, and the labels that agree with them.

The report builder decides every label first (positive / uncertain / explicit negative / blank, spec
1.3 coding) and then writes one sentence per finding, grouped negatives and an impression. The
mini-labeler :func:`label_text` reads the labels back from the text (keywords + negation/uncertainty
cues, CheXpert-style aggregation); tests check that both always agree.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from cogaze.data.phantom.findings import Finding
from cogaze.data.records import BLANK, CHEXPERT_CLASSES, NEGATIVE, POSITIVE, UNCERTAIN

ADJ = {"mild": "mild", "moderate": "moderate", "severe": "severe"}
ADV = {"mild": "mildly", "moderate": "moderately", "severe": "markedly"}
SIZE = {"mild": "small", "moderate": "moderate", "severe": "large"}
OPAC = {"mild": "faint", "moderate": "hazy", "severe": "dense"}
ORDINAL = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]

KEYWORDS: dict[str, str] = {
    "Enlarged Cardiomediastinum": r"mediastin",
    "Cardiomegaly": r"cardiomegaly|heart size|cardiac silhouette|cardiomediastinal",
    "Lung Opacity": r"opacit",
    "Lung Lesion": r"nodul|mass\b|lesion",
    "Edema": r"edema",
    "Consolidation": r"consolidation",
    "Pneumonia": r"pneumonia",
    "Atelectasis": r"atelecta",
    "Pneumothorax": r"pneumothora",
    "Pleural Effusion": r"effusion",
    "Pleural Other": r"pleural thickening",
    "Fracture": r"fracture",
    "Support Devices": r"\btube\b|catheter|pacemaker",
}
"""Class keywords of the phrase bank (pairwise disjoint on every sentence the bank can produce)."""
NEGATION = re.compile(r"\b(no|without|normal|unremarkable)\b")
UNCERTAINTY = re.compile(r"\b(possible|cannot be excluded|cannot exclude|may represent|questionable|borderline)\b")


@dataclass
class Sentence:
    """One report sentence, the labels it states and what a reader looks at while dictating it."""

    text: str
    labels: dict[str, int]
    finding: int | None = None  # index into the study's findings (lesion sentences)
    regions: tuple[str, ...] = ()  # anatomy regions (negative and normal sentences)


@dataclass
class Report:
    findings: list[Sentence]
    impression: list[Sentence]
    labels: tuple[int, ...]  # raw 4-state labels, CHEXPERT_CLASSES order
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def findings_text(self) -> str:
        return " ".join(s.text for s in self.findings)

    @property
    def impression_text(self) -> str:
        return " ".join(s.text for s in self.impression)


def _loc(f: Finding, rng: np.random.Generator) -> str:
    side = f.side or "right"
    if side == "bilateral":
        return str(rng.choice([f"bilateral {f.zone or 'lower'} lungs", f"{f.zone or 'lower'} lungs bilaterally"]))
    if f.zone == "mid":
        return str(rng.choice(["right middle lobe", "right mid lung"] if side == "right" else ["lingula", "left mid lung"]))
    z = f.zone or "lower"
    words = {"lower": ["lower lobe", "lung base", "base"], "upper": ["upper lobe", "apex", "upper lung"]}[z]
    return f"{side} {rng.choice(words)}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def positive_sentence(f: Finding, rng: np.random.Generator) -> str:
    """One sentence stating ``f`` (positive or, for UNCERTAIN findings, hedged)."""
    sev, loc, side = f.severity, _loc(f, rng), f.side or ""
    c = f.label
    if c == "Support Devices":
        bank = {"endotracheal tube": ["Endotracheal tube terminates {x} cm above the carina.",
                                      "The endotracheal tube is in standard position, {x} cm above the carina."],
                "central line": ["Right internal jugular catheter terminates in the low SVC.",
                                 "A right-sided central venous catheter ends in the SVC."],
                "pacemaker": ["Left chest wall pacemaker with leads in the right atrium and right ventricle.",
                              "A left-sided pacemaker is present with leads terminating in the right heart."],
                "enteric tube": ["Enteric tube courses below the diaphragm with the tip in the stomach.",
                                 "A nasogastric tube is seen with its tip in the stomach."]}[f.kind]
        return str(rng.choice(bank)).format(x=int(rng.integers(3, 7)))
    np_ = {
        "Enlarged Cardiomediastinum": f"{ADJ[sev]} widening of the mediastinum",
        "Cardiomegaly": f"{ADJ[sev]} cardiomegaly",
        "Lung Opacity": f"{OPAC[sev]} opacity in the {loc}",
        "Lung Lesion": f"{'small' if sev == 'mild' else ''} {f.kind or 'nodule'} in the {loc}".strip(),
        "Edema": f"{ADJ[sev]} pulmonary edema",
        "Consolidation": f"{ADJ[sev]} consolidation in the {loc}",
        "Pneumonia": f"pneumonia in the {loc}",
        "Atelectasis": f"{f.kind or 'plate-like'} atelectasis at the {loc}",
        "Pneumothorax": f"{SIZE[sev]} {side} pneumothorax",
        "Pleural Effusion": (f"{SIZE[sev]} bilateral pleural effusions" if side == "bilateral"
                             else f"{SIZE[sev]} {side} pleural effusion"),
        "Pleural Other": f"{side} {f.kind or 'pleural thickening'}",
        "Fracture": f"fracture of the {side} {ORDINAL[int(f.extra.get('rib', 5))]} rib",
    }[c]
    if f.state == UNCERTAIN:
        t = ["Possible {np}.", "{Np} cannot be excluded.", "Cannot exclude {np}.", "Questionable {np}."]
        return str(rng.choice(t)).format(np=np_, Np=_cap(np_))
    special = {
        "Cardiomegaly": [f"The heart size is {ADV[sev]} enlarged.", f"The cardiac silhouette is {ADV[sev]} enlarged."],
        "Enlarged Cardiomediastinum": [f"The mediastinum is {ADV[sev]} widened."],
        "Pneumonia": [f"Findings are concerning for pneumonia in the {loc}.", f"{_cap(loc)} pneumonia."],
        "Fracture": [f"There is an acute fracture of the {side} {ORDINAL[int(f.extra.get('rib', 5))]} rib."],
    }.get(c, [])
    t = ["There is {np}.", "{Np}.", "{Np} is seen.", "{Np} is present."] + special
    if c in ("Lung Opacity", "Consolidation", "Atelectasis", "Lung Lesion", "Pneumonia") and f.side == "bilateral":
        t = ["{Np}.", "There is {np}."]
    out = str(rng.choice(t)).format(np=np_, Np=_cap(np_))
    return re.sub(r"^There is (?=[a-z]+ (?:bilateral|pleural effusions))", "There are ", out)


_NEG_NP = {
    "Enlarged Cardiomediastinum": "mediastinal widening", "Cardiomegaly": "cardiomegaly",
    "Lung Opacity": "focal opacity", "Lung Lesion": "suspicious pulmonary nodule", "Edema": "pulmonary edema",
    "Consolidation": "focal consolidation", "Pneumonia": "pneumonia", "Atelectasis": "atelectasis",
    "Pneumothorax": "pneumothorax", "Pleural Effusion": "pleural effusion", "Pleural Other": "pleural thickening",
    "Fracture": "displaced rib fracture",
}
_NEG_REGIONS = {
    "Pleural Effusion": ("costophrenic_right", "costophrenic_left"),
    "Pneumothorax": ("zone_right_upper", "zone_left_upper"), "Cardiomegaly": ("heart",),
    "Enlarged Cardiomediastinum": ("mediastinum",), "Fracture": ("lung_right", "lung_left"),
}
_NEG_P = {"Pleural Effusion": 0.8, "Pneumothorax": 0.75, "Consolidation": 0.55, "Edema": 0.35, "Cardiomegaly": 0.6,
          "Enlarged Cardiomediastinum": 0.35, "Pneumonia": 0.15, "Lung Opacity": 0.2, "Atelectasis": 0.1,
          "Fracture": 0.1, "Lung Lesion": 0.08, "Pleural Other": 0.03}


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def negative_sentences(classes: list[str], rng: np.random.Generator) -> list[Sentence]:
    """Explicit negatives, grouped ("No pleural effusion or pneumothorax.")."""
    out: list[Sentence] = []
    rest = list(classes)
    if "Cardiomegaly" in rest and "Enlarged Cardiomediastinum" in rest and rng.random() < 0.6:
        rest = [c for c in rest if c not in ("Cardiomegaly", "Enlarged Cardiomediastinum")]
        text = str(rng.choice(["The cardiomediastinal silhouette is within normal limits.",
                               "Normal cardiomediastinal silhouette."]))
        out.append(Sentence(text, {"Cardiomegaly": NEGATIVE, "Enlarged Cardiomediastinum": NEGATIVE},
                            regions=("heart", "mediastinum")))
    if "Cardiomegaly" in rest and rng.random() < 0.7:
        rest.remove("Cardiomegaly")
        out.append(Sentence(str(rng.choice(["Heart size is normal.", "The heart size is normal."])),
                            {"Cardiomegaly": NEGATIVE}, regions=("heart",)))
    lungs = [c for c in rest if c in ("Consolidation", "Edema", "Pneumonia", "Lung Opacity", "Lung Lesion", "Atelectasis")]
    pleura = [c for c in rest if c in ("Pleural Effusion", "Pneumothorax", "Pleural Other")]
    other = [c for c in rest if c not in lungs and c not in pleura]
    groups = [lungs + pleura] if rng.random() < 0.5 else [lungs, pleura]
    groups += [[c] for c in other]
    for grp in groups:
        if not grp:
            continue
        lead = str(rng.choice(["No ", "There is no ", "No evidence of "]))
        text = lead + _join([_NEG_NP[c] for c in grp]) + "."
        regions = tuple(r for c in grp for r in _NEG_REGIONS.get(c, ("lung_right", "lung_left")))
        out.append(Sentence(text, dict.fromkeys(grp, NEGATIVE), regions=tuple(dict.fromkeys(regions))))
    return out


_ORDER = ["Support Devices", "Lung Opacity", "Consolidation", "Pneumonia", "Lung Lesion", "Atelectasis", "Edema",
          "Pleural Effusion", "Pneumothorax", "Pleural Other", "Cardiomegaly", "Enlarged Cardiomediastinum", "Fracture"]


def no_finding(states: dict[str, int]) -> int:
    """CheXpert rule: No Finding is positive iff no pathology (Support Devices aside) is positive/uncertain."""
    patho = [c for c in CHEXPERT_CLASSES if c not in ("No Finding", "Support Devices")]
    return BLANK if any(states.get(c, BLANK) in (POSITIVE, UNCERTAIN) for c in patho) else POSITIVE


def build_report(findings: list[Finding], rng: np.random.Generator) -> Report:
    """The report of a study with these findings; labels are decided here, text follows them."""
    states: dict[str, int] = {}
    for f in findings:
        cur = states.get(f.label, BLANK)
        states[f.label] = POSITIVE if POSITIVE in (cur, f.state) else f.state
    negs = [c for c, p in _NEG_P.items() if c not in states and rng.random() < p]
    order = sorted(range(len(findings)), key=lambda i: _ORDER.index(findings[i].label))
    sents = [Sentence(positive_sentence(findings[i], rng), {findings[i].label: findings[i].state}, finding=i)
             for i in order]
    neg = negative_sentences(negs, rng)
    for s in neg:
        states.update(s.labels)
    n_lung = len([s for s in sents if s.finding is not None and findings[s.finding].label != "Support Devices"])
    if n_lung == 0 and rng.random() < 0.5:
        sents.append(Sentence(str(rng.choice(["The lungs are clear.", "Lungs are well expanded and clear."])), {},
                      regions=("lung_right", "lung_left")))
    sents += neg
    states["No Finding"] = no_finding(states)
    imp: list[Sentence] = []
    if states["No Finding"] == POSITIVE:
        imp.append(Sentence(str(rng.choice(["No acute cardiopulmonary process.", "No acute intrathoracic process."])),
                            {}, regions=("lung_right", "lung_left")))
    else:
        key = [i for i in order if findings[i].label != "Support Devices"][:2]
        for i in key:
            f = findings[i]
            imp.append(Sentence(positive_sentence(f, rng), {f.label: f.state}, finding=i))
    labels = tuple(states.get(c, BLANK) for c in CHEXPERT_CLASSES)
    return Report(sents, imp, labels)


def label_text(text: str) -> tuple[int, ...]:
    """Read raw 4-state labels back from report text (the phantom's own rule-based labeler)."""
    found: dict[str, list[int]] = {}
    for sent in re.split(r"(?<=\.)\s+", " ".join(text.split())):
        low = sent.lower()
        for c, pat in KEYWORDS.items():
            if re.search(pat, low):
                st = NEGATIVE if NEGATION.search(low) else UNCERTAIN if UNCERTAINTY.search(low) else POSITIVE
                found.setdefault(c, []).append(st)
    states = {c: POSITIVE if POSITIVE in v else UNCERTAIN if UNCERTAIN in v else NEGATIVE for c, v in found.items()}
    states["No Finding"] = no_finding(states)
    return tuple(states.get(c, BLANK) for c in CHEXPERT_CLASSES)


def format_report(report: Report, indication: str, history: str, views: list[str]) -> str:
    """The study's ``sXXXXXXXX.txt`` text in the MIMIC-CXR layout (wrapped lines, upper-case headers)."""
    exam = "CHEST (PA AND LAT)" if len(views) > 1 and "LATERAL" in views else (
        "CHEST (PORTABLE AP)" if views[0] == "AP" else "CHEST (PA AND LAT)" if "LATERAL" in views else "CHEST (PA)")

    def sec(name: str, body: str) -> str:
        return f" {name}:  " + textwrap.fill(body, 76, subsequent_indent=" ").lstrip() + "\n \n"

    out = "                                 FINAL REPORT\n" + sec("EXAMINATION", exam)
    if indication:
        out += sec("INDICATION", indication)
    if history:
        out += sec("HISTORY", history)
    out += sec("TECHNIQUE", "Chest " + " and ".join(v if v != "LATERAL" else "lateral" for v in views) + " views.")
    out += sec("COMPARISON", "None.")
    out += " FINDINGS:\n \n" + textwrap.fill(report.findings_text, 78, initial_indent=" ", subsequent_indent=" ")
    out += "\n \n IMPRESSION:\n \n" + textwrap.fill(report.impression_text, 78, initial_indent=" ",
                                                     subsequent_indent=" ") + "\n"
    return out
