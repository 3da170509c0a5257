"""The 14 CheXbert findings: sampling (prevalence, co-occurrence, side/zone/severity) and rendering.

A :class:`Finding` is one lesion or device of a study; it is drawn on every image of the study and
yields a per-image boolean mask. ``subtlety`` in [0, 1] scales contrast and size: 0 = conspicuous,
1 = barely visible; 0.5 is the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from cogaze.data.phantom.anatomy import (
    AnatomyParams,
    Canvas,
    draw_ribs,
    polyline_distance,
    ramp,
    smooth_noise,
)
from cogaze.data.records import POSITIVE, UNCERTAIN

SEVERITY_GAIN = {"mild": 0.65, "moderate": 1.0, "severe": 1.4}

DEFAULT_PREVALENCE: dict[str, float] = {
    "Enlarged Cardiomediastinum": 0.05,
    "Cardiomegaly": 0.18,
    "Lung Opacity": 0.14,
    "Lung Lesion": 0.05,
    "Edema": 0.09,
    "Consolidation": 0.06,
    "Pneumonia": 0.07,
    "Atelectasis": 0.14,
    "Pneumothorax": 0.07,
    "Pleural Effusion": 0.18,
    "Pleural Other": 0.03,
    "Fracture": 0.04,
    "Support Devices": 0.22,
}
"""Base probability that a study shows each finding (before the scenario multipliers of context.py)."""

UNCERTAIN_RATE: dict[str, float] = {"Pneumonia": 0.35, "Consolidation": 0.2, "Atelectasis": 0.2,
                                    "Support Devices": 0.0, "Fracture": 0.1}
DEVICE_KINDS = ("endotracheal tube", "central line", "pacemaker", "enteric tube")


@dataclass
class Finding:
    """One finding of a study. ``state`` is POSITIVE or UNCERTAIN (spec 1.3 coding)."""

    label: str
    state: int = POSITIVE
    side: str | None = None  # 'right', 'left', 'bilateral' or None
    zone: str | None = None  # 'upper', 'mid', 'lower' or None
    severity: str = "moderate"  # 'mild', 'moderate', 'severe'
    kind: str = ""
    seed: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def sides(self) -> tuple[str, ...]:
        if self.side == "bilateral":
            return ("right", "left")
        return (self.side,) if self.side else ()


def _side(rng: np.random.Generator, p_bilateral: float = 0.0) -> str:
    if rng.random() < p_bilateral:
        return "bilateral"
    return "right" if rng.random() < 0.55 else "left"


def _severity(rng: np.random.Generator) -> str:
    return str(rng.choice(["mild", "moderate", "severe"], p=[0.45, 0.38, 0.17]))


def sample_findings(rng: np.random.Generator, probs: dict[str, float]) -> list[Finding]:
    """Draw the findings of one study given per-class probabilities (already scenario-adjusted)."""
    out: list[Finding] = []
    for label, prob in probs.items():
        if rng.random() >= prob:
            continue
        state = UNCERTAIN if rng.random() < UNCERTAIN_RATE.get(label, 0.12) else POSITIVE
        f = Finding(label, state, severity=_severity(rng), seed=int(rng.integers(2**31)))
        if label in ("Lung Opacity", "Consolidation", "Pneumonia", "Lung Lesion"):
            f.side = _side(rng, 0.2 if label == "Lung Opacity" else 0.08 if label != "Lung Lesion" else 0.0)
            f.zone = str(rng.choice(["upper", "mid", "lower"], p=[0.2, 0.3, 0.5]))
            if label == "Lung Lesion":
                f.kind = "mass" if rng.random() < 0.3 else "nodule"
        elif label == "Edema":
            f.side = "bilateral"
        elif label == "Atelectasis":
            f.side = _side(rng, 0.25)
            f.zone = "lower" if rng.random() < 0.85 else "mid"
            f.kind = "plate-like" if rng.random() < 0.6 else "subsegmental"
        elif label in ("Pneumothorax", "Pleural Effusion"):
            f.side = _side(rng, 0.3 if label == "Pleural Effusion" else 0.0)
        elif label == "Pleural Other":
            f.side = _side(rng)
            f.kind = "apical pleural thickening" if rng.random() < 0.4 else "pleural thickening"
            f.zone = "upper" if f.kind.startswith("apical") else "lower"
        elif label == "Fracture":
            f.side = _side(rng)
            f.extra = {"rib": float(rng.integers(3, 9)), "d": float(rng.uniform(0.22, 0.31))}
            f.zone = "upper" if f.extra["rib"] < 5 else "mid"
        elif label == "Support Devices":
            n = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
            kinds = rng.choice(len(DEVICE_KINDS), size=n, replace=False)
            for k in sorted(kinds):
                out.append(Finding(label, POSITIVE, kind=DEVICE_KINDS[k], severity="moderate",
                                   side="right" if DEVICE_KINDS[k] == "central line" else None,
                                   seed=int(rng.integers(2**31))))
            continue
        if state == UNCERTAIN:
            f.severity = "mild"
        out.append(f)
    # pneumonia and consolidation in the same study describe the same airspace disease
    cons = [f for f in out if f.label == "Consolidation"]
    for f in out:
        if f.label == "Pneumonia" and cons:
            f.side, f.zone = cons[0].side, cons[0].zone
    return out


def adjust_anatomy(params: AnatomyParams, findings: list[Finding], vis: float) -> None:
    """Findings that change the shape of the anatomy (heart size, mediastinum, volume loss)."""
    for f in findings:
        g = SEVERITY_GAIN[f.severity]
        r = np.random.default_rng(f.seed)
        if f.label == "Cardiomegaly":
            params.ctr = 0.50 + (0.012 + 0.055 * g * r.uniform(0.5, 1.3)) * min(vis, 1.3) + (
                0.0 if f.state == POSITIVE else -0.01)
        elif f.label == "Enlarged Cardiomediastinum":
            params.mediastinum += (0.006 + 0.018 * g * r.uniform(0.5, 1.3)) * vis
        elif f.label == "Atelectasis" and f.kind == "subsegmental" and f.severity != "mild":
            for s in f.sides():
                params.cp[s] -= 0.025 * g


def _lung(cv: Canvas, side: str) -> np.ndarray:
    return cv.regions[f"lung_{side}"].astype(np.float32) * cv.layers["lung"]


def _zone_point(cv: Canvas, side: str, zone: str | None, rng: np.random.Generator, margin: float = 0.0) -> tuple:
    """A random canonical point inside the zone (away from its edge by ``margin`` in rho units)."""
    mask = cv.regions[f"zone_{side}_{zone or 'mid'}"]
    if margin > 0:
        mask = mask & (cv.lung_local[side][2] < 1 - margin)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        idx = np.flatnonzero(cv.regions[f"lung_{side}"])
    if idx.size == 0:
        return 0.5, 0.5
    i = idx[rng.integers(idx.size)]
    return float(cv.u.flat[i]), float(cv.v.flat[i])


def _blob(cv: Canvas, rng: np.random.Generator, cu: float, cv_: float, radius: float, rough: float) -> np.ndarray:
    """Ill-defined airspace blob: Gaussian falloff of a noise-perturbed radius, then blurred."""
    r = np.hypot(cv.u - cu, cv.v - cv_) / radius
    n = smooth_noise(rng, (10, 10), ((cv.u - cu) / radius * 2 + 5, (cv.v - cv_) / radius * 2 + 5))
    shape = np.exp(-2.0 * np.maximum(r - rough * n, 0) ** 2)
    return ndimage.gaussian_filter(shape, 0.006 * cv.size)


def render_finding(cv: Canvas, f: Finding, vis: float, size_gain: float) -> np.ndarray:
    """Draw one finding onto ``cv`` (layers 'finding', 'device', 'vessel_keep', 'ribs'); returns its mask."""
    rng = np.random.default_rng(f.seed + (0 if cv.frontal else 7))
    g = SEVERITY_GAIN[f.severity] * vis
    u, v, p = cv.u, cv.v, cv.params
    mask = np.zeros(u.shape, dtype=bool)
    add = np.zeros_like(u)
    px = 1.0 / cv.size
    if f.label == "Cardiomegaly":
        return cv.regions["heart"].copy()
    if f.label == "Enlarged Cardiomediastinum":
        return cv.regions["mediastinum"].copy()
    if f.label in ("Lung Opacity", "Consolidation", "Pneumonia", "Lung Lesion"):
        for side in f.sides():
            lung = _lung(cv, side)
            if f.label == "Lung Lesion":
                rad = (rng.uniform(0.012, 0.022) if f.kind == "nodule" else rng.uniform(0.035, 0.055)) * size_gain
                cu, cvv = _zone_point(cv, side, f.zone, rng, margin=0.25)
                shape = ramp(1 - np.hypot(u - cu, v - cvv) / rad
                             + (0.15 * smooth_noise(rng, (6, 6), ((u - cu) / rad + 3, (v - cvv) / rad + 3))
                                if f.kind == "mass" else 0), max(0.4, 3.0 * px / rad))
                add += (0.15 if f.kind == "nodule" else 0.12) * g * shape * np.maximum(lung, 0.4 * cv.regions["body"])
                mask |= shape > 0.3
                continue
            cu, cvv = _zone_point(cv, side, f.zone, rng, margin=0.2)
            if f.label == "Pneumonia":
                shape = np.zeros_like(u)
                for _ in range(int(rng.integers(3, 6))):
                    ju, jv = rng.normal(0, 0.035, 2)
                    shape = np.maximum(shape, _blob(cv, rng, cu + ju, cvv + jv, rng.uniform(0.03, 0.05) * size_gain,
                                                    0.4))
                amp = 0.13
            elif f.label == "Consolidation":
                shape = _blob(cv, rng, cu, cvv, rng.uniform(0.07, 0.11) * size_gain, 0.35)
                amp = 0.17
            else:
                shape = _blob(cv, rng, cu, cvv, rng.uniform(0.06, 0.1) * size_gain, 0.5) ** 2
                amp = 0.12
            add += amp * g * shape * lung
            mask |= (shape * lung) > 0.25
    elif f.label == "Edema":
        for side in ("right", "left"):
            a, b, rho = cv.lung_local[side]
            lung = _lung(cv, side)
            haze = np.exp(-((a + 0.55) / 0.75) ** 2 - ((b - 0.15) / 0.55) ** 2)
            ker = np.exp(-((((v * 40) % 1) - 0.5) / 0.06) ** 2) * ramp(a - 0.6, 0.15) * ramp(b - 0.4, 0.2)
            add += g * (0.13 * haze + 0.035 * ker * (f.severity != "mild")) * lung
            mask |= (haze > 0.35) & cv.regions[f"lung_{side}"]
    elif f.label == "Atelectasis":
        for side in f.sides():
            lung = _lung(cv, side)
            cu, cvv = _zone_point(cv, side, f.zone, rng, margin=0.3)
            half = rng.uniform(0.05, 0.09) * size_gain
            ang = rng.normal(0, 0.2) + (0.3 if side == "right" else -0.3) * cv.frontal
            pts = np.array([[cu - half * np.cos(ang), cvv - half * np.sin(ang)],
                            [cu + half * np.cos(ang), cvv + half * np.sin(ang)]])
            dist = polyline_distance(u, v, pts)
            w = 0.011 if f.kind == "plate-like" else 0.02
            band = ramp(w * size_gain - dist, 0.01)
            add += 0.2 * g * band * lung
            mask |= (band * lung) > 0.3
    elif f.label == "Pleural Effusion":
        for side in f.sides():
            a, b, rho = cv.lung_local[side]
            h = {"mild": 0.035, "moderate": 0.08, "severe": 0.15}[f.severity] * size_gain * 1.2
            surf = p.cp[side] - p.dome - h * (0.35 + 0.9 * np.clip(a, 0, 1) ** 2)
            if not cv.frontal:
                surf = p.cp[side] - 0.02 - h * (0.3 + 0.9 * np.clip((u - 0.45) / 0.3, 0, 1) ** 2)
            fluid = ramp(v - surf, 0.05) * (0.6 + 0.4 * ramp(v - surf - 0.04, 0.08))
            add += 0.3 * min(g, 1.1) * fluid * _lung(cv, side)
            mask |= (fluid > 0.3) & cv.regions[f"lung_{side}"]
    elif f.label == "Pneumothorax" and cv.frontal:
        side = f.sides()[0]
        a, b, rho = cv.lung_local[side]
        gap = {"mild": 0.28, "moderate": 0.45, "severe": 0.65}[f.severity] * min(size_gain, 1.3)
        zone = (a > -0.35) & (b < 0.55)
        region = cv.regions[f"lung_{side}"] & zone & (rho > 1 - gap)
        soft = ramp(rho - (1 - gap), 0.04) * _lung(cv, side) * ramp(0.55 - b, 0.2) * ramp(a + 0.35, 0.2)
        cv.layers["vessel_keep"] = cv.layers.get("vessel_keep", 1.0) * (1 - soft)
        add -= 0.13 * min(g, 1.5) * soft
        line = np.exp(-((rho - (1 - gap)) / (0.02 + 2.0 * px)) ** 2) * zone * _lung(cv, side)
        add += 0.1 * min(g, 1.5) * line + 0.05 * g * _lung(cv, side) * (rho < 1 - gap)
        mask |= region
    elif f.label == "Pleural Other" and cv.frontal:
        side = f.sides()[0]
        a, b, rho = cv.lung_local[side]
        band = ramp(rho - 0.78, 0.08) * _lung(cv, side)
        band = band * (ramp(-0.6 - b, 0.15) if f.kind.startswith("apical") else ramp(a - 0.3, 0.2) * ramp(b + 0.1, 0.2))
        add += 0.14 * g * band
        mask |= band > 0.4
    elif f.label == "Fracture" and cv.frontal:
        side = f.sides()[0]
        k, d = int(f.extra["rib"]), f.extra["d"]
        draw_ribs(cv, rng, break_at=(side, k, d))
        sp = (p.cp["right"] - p.apex) / 8.2
        vf = 0.02 * d + 0.75 * d * d + p.apex - 0.045 + (k + 0.5) * sp
        uf = p.mid + cv.sign(side) * d
        mask |= np.hypot(u - uf, v - vf) < 0.028
    elif f.label == "Support Devices":
        mask |= _device(cv, f, rng, vis)
    cv.add("finding", add)
    return mask


def _device(cv: Canvas, f: Finding, rng: np.random.Generator, vis: float) -> np.ndarray:
    """Radiopaque tubes, lines and a pacemaker (subtlety changes their contrast only a little)."""
    u, v, p = cv.u, cv.v, cv.params
    w = max(0.0035, 1.3 / cv.size)
    car = np.array([[float(u.flat[i]), float(v.flat[i])] for i in [np.flatnonzero(cv.regions["carina"])[0]]]
                   ) if cv.regions["carina"].any() else np.array([[0.5, 0.4]])
    cu, cvv = car[0]
    if not cv.frontal:
        pts = np.array([[0.46, 0.0], [cu - 0.01, cvv - 0.05]])
        if f.kind == "pacemaker":
            pts = np.array([[0.25, 0.18], [0.4, 0.3], [0.38, 0.55]])
        elif f.kind == "central line":
            pts = np.array([[0.45, 0.05], [0.44, 0.3], [0.42, 0.42]])
        elif f.kind == "enteric tube":
            pts = np.array([[0.55, 0.0], [0.56, 0.5], [0.5, 0.8]])
    elif f.kind == "endotracheal tube":
        pts = np.array([[p.mid - 0.004, -0.05], [p.mid - 0.004, cvv - rng.uniform(0.03, 0.07)]])
    elif f.kind == "central line":
        pts = np.array([[p.mid - 0.13, 0.0], [p.mid - 0.08, 0.14], [p.mid - 0.04, 0.26],
                        [p.mid - 0.035, cvv + rng.uniform(0.0, 0.06)]])
    elif f.kind == "enteric tube":
        pts = np.array([[p.mid + 0.002, -0.05], [p.mid + 0.01, 0.5], [p.mid + 0.05, p.cp["left"] + 0.02],
                        [p.mid + 0.15, p.cp["left"] + 0.07]])
    else:  # pacemaker: generator in the left upper chest, leads into the right heart
        pts = np.array([[p.mid + 0.22, 0.19], [p.mid + 0.1, 0.2], [p.mid + 0.03, 0.32], [p.mid + 0.0, cvv + 0.1],
                        [p.mid + 0.06, cvv + 0.2]])
    dist = polyline_distance(u, v, pts)
    if f.kind == "endotracheal tube" and cv.frontal:
        prof = np.exp(-((dist - 0.008) / w) ** 2) * 0.8 + 0.2 * ramp(0.01 - dist, 0.004)
    else:
        prof = ramp(w - dist, w)
    dev = (0.07 + 0.05 * vis) * prof
    mask = dist < 0.02
    if f.kind == "pacemaker":
        box = ramp(0.035 - np.abs(u - pts[0, 0]), 0.01) * ramp(0.024 - np.abs(v - pts[0, 1]), 0.01)
        dev = np.maximum(dev, (0.22 + 0.08 * vis) * box)
        mask |= box > 0.3
    cv.add("device", dev)
    return mask
