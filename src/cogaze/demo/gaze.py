"""Demo stage: where the radiologist would look — predicted vs true gaze on held-out phantom readings,
and whether each sentence's map points at the finding it names (grounding, docs/gaze_grounding.md)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cogaze.demo.stages import DemoState
from cogaze.tasks.phantom_scores import held_out_gaze


def held_out(s: DemoState) -> list:
    """Test-split records with gaze readings (never seen in pretraining)."""
    assert s.records is not None
    return held_out_gaze(s.records)


def _units(s: DemoState, recs: list) -> list:
    from cogaze.data.grounding import load_phantom_grounding
    from cogaze.explain.evaluate_grounding import grounding_units

    assert s.data_dir is not None
    if not (s.data_dir / "phantom" / "sentences.csv").is_file():  # not a phantom: no sentence boxes
        return []
    return grounding_units(recs, load_phantom_grounding(s.data_dir, with_masks=False))


def _box_overlay(image: np.ndarray, heatmap: np.ndarray, region: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """The map over the image with the ground-truth region's outline."""
    from PIL import Image, ImageDraw

    from cogaze.gaze.metrics.grounding import bounding_box
    from cogaze.html.overlay import heatmap_overlay

    over = Image.fromarray(heatmap_overlay(image, heatmap))
    x0, y0, x1, y1 = bounding_box(region)
    sy, sx = over.height / region.shape[0], over.width / region.shape[1]
    ImageDraw.Draw(over).rectangle((x0 * sx, y0 * sy, x1 * sx - 1, y1 * sy - 1), outline=colour, width=2)
    return np.asarray(over)


def _two_places(s: DemoState, units: list, model: Any) -> list[tuple[np.ndarray, str]] | None:
    """Two sentences on one image whose maps each favour their own finding's box (first such image)."""
    from cogaze.data.images import read_image
    from cogaze.gaze.metrics.grounding import own_box_preference

    by_image: dict[str, list] = {}
    for u in units:
        by_image.setdefault(u.record.dicom_id, []).append(u)
    for group in by_image.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if not (a.region & ~b.region).any() or (a.region & b.region).any():
                    continue
                ma, mb = model(a.record, a.text), model(b.record, b.text)
                if own_box_preference(ma, a.region, b.region) == 1 and own_box_preference(mb, b.region, a.region) == 1:
                    image = read_image(a.record.image_path)
                    return [(_box_overlay(image, ma, a.region, (0, 200, 255)), f'"{a.text}" (its finding: blue box)'),
                            (_box_overlay(image, mb, b.region, (255, 80, 200)), f'"{b.text}" (its finding: pink box)')]
    return None


def grounding_section(s: DemoState, recs: list) -> None:
    """Grounding table (model beside its baselines) and the two-places example."""
    from cogaze.explain.baselines import CentreBiasPredictor, EncoderPredictor, fit_centre_prior
    from cogaze.explain.evaluate_grounding import (
        TextFreePredictor,
        TrueGazePredictor,
        evaluate_grounding,
        grounding_table_rows,
    )

    units = _units(s, recs)
    s.page.add_section("Does the map follow the sentence?", "Each held-out sentence that names a finding, scored "
                       "against that finding's box: pointing game (map peak inside the box), share of the top 10% "
                       "of the map inside it, BioViL's contrast-to-noise ratio, IoU of the thresholded map's box; "
                       "text specificity: own box vs another finding's box on two-finding images, and how much "
                       "sentence maps correlate with the text-free map and with each other (lower = more specific).")
    if not units:
        s.page.add_paragraph("No held-out sentence names a finding with a box at this phantom size.")
        return
    assert s.records is not None
    model = EncoderPredictor(s.encoder, s.encoder.geometry)
    predictors: dict[str, Any] = {"CoGaze": model, "text-free map": TextFreePredictor(model), "centre bias": CentreBiasPredictor(),
                  "fitted prior": fit_centre_prior([r for r in s.records.split("train") if r.has_gaze]),
                  "true gaze (upper bound)": TrueGazePredictor(recs)}
    table = evaluate_grounding(units, predictors)
    s.results["grounding"] = {n: {k: [v.mean, v.lo, v.hi, v.n] for k, v in row.items()} for n, row in table.items()}
    s.page.add_table(grounding_table_rows(table), caption="Mean [95% CI] over held-out finding sentences "
                     "(CC between sentences: over images).")
    example = _two_places(s, units, model)
    if example:
        s.page.add_image_grid(example, caption="Two sentences on one image, two places: each map (the model's, "
                              "for that sentence alone) with its finding's ground-truth box; the first held-out pair "
                              "where both maps favour their own box, so how often that holds is the table's "
                              "'own vs other box' column.", columns=2,
                              image_width=320)
    else:
        s.page.add_paragraph("No held-out image where both sentences' maps favour their own finding's box.")
    pg = table["CoGaze"]["pointing"]
    if math.isfinite(pg.mean):
        s.results["grounding_summary"] = {"pointing": pg.mean, "centre": table["centre bias"]["pointing"].mean}


def gaze_stage(s: DemoState) -> None:
    from cogaze.data.images import read_image
    from cogaze.explain.baselines import EncoderPredictor, fit_centre_prior
    from cogaze.explain.evaluate_gaze import evaluate_gaze, gaze_table_rows
    from cogaze.explain.evaluate_grounding import TextFreePredictor
    from cogaze.explain.predict import ground_report, scanpath_from_prediction
    from cogaze.gaze.heatmaps import reading_maps
    from cogaze.html.overlay import draw_scanpath, heatmap_overlay

    recs = held_out(s)
    s.page.add_section("Where the radiologist looks", "Predicted gaze (transcript->patch similarity, as trained "
                       "by the gaze loss) against the simulated radiologist's fixations on held-out test "
                       "images, scored with saliency metrics; the model's text-free map, a centre prior fitted "
                       "on training readings, centre-bias and uniform maps are the baselines.")
    if not recs:
        s.page.add_paragraph("The test split has no gaze readings at this phantom size.")
        return
    assert s.records is not None
    model = EncoderPredictor(s.encoder, s.encoder.geometry)
    table = evaluate_gaze(recs, {"CoGaze": model, "text-free map": TextFreePredictor(model),
                                 "fitted prior": fit_centre_prior([r for r in s.records.split("train") if r.has_gaze])},
                          icc_boot=200, sauc_splits=50, seed=s.cfg.seed)
    s.results["gaze"] = {name: {k: v.mean for k, v in row.items()} for name, row in table.items()}
    s.page.add_table(gaze_table_rows(table), caption="Mean [95% CI] over held-out transcript rows.")
    # Per-sentence pictures for two readings: true map (from the fixations) beside the predicted map,
    # the sentence beside them as an HTML caption (legible at any size, never cut inside a word).
    shown = 0
    for rec in recs:
        reading = rec.gaze[0]
        image = read_image(rec.image_path)
        true_maps, _ = reading_maps(reading)  # (k + 1, H, W): each sentence, then the paragraph
        sentences = [t.text for t in reading.sentences]
        grounded = ground_report(s.encoder, image, " ".join(sentences), view=rec.view,
                                 indication=rec.indication, history=rec.history)
        pairs = list(zip(grounded, true_maps[: len(sentences)]))[:4]
        if not pairs:
            continue
        s.page.add_paragraph(f"Held-out image {rec.dicom_id[:17]}... ({rec.view}): the radiologist's gaze while "
                             "dictating each sentence (left) and the model's map for that sentence (right).")
        for g, true in pairs:
            s.page.add_image_grid([(heatmap_overlay(image, true), "radiologist"),
                                   (heatmap_overlay(image, g.heatmap), "predicted")],
                                  caption=f"\u201c{g.sentence}\u201d", caption_position="beside", columns=2,
                                  image_width=200)
        path = scanpath_from_prediction(grounded[0].prediction, n_fixations=8, seed=s.cfg.seed)
        s.page.add_image_grid([(draw_scanpath(image, path), "")], columns=1, image_width=256,
                              caption="Predicted scanpath for the first sentence: 8 fixations sampled from its "
                              "map with inhibition of return, numbered in order.")
        shown += 1
        if shown >= 2:
            break
    grounding_section(s, recs)
