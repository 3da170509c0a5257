"""Demo stage: where the radiologist would look — predicted vs true gaze on held-out phantom readings."""

from __future__ import annotations

from cogaze.demo.stages import DemoState
from cogaze.tasks.phantom_scores import held_out_gaze


def held_out(s: DemoState) -> list:
    """Test-split records with gaze readings (never seen in pretraining)."""
    assert s.records is not None
    return held_out_gaze(s.records)


def gaze_stage(s: DemoState) -> None:
    from cogaze.data.images import read_image
    from cogaze.explain.baselines import EncoderPredictor
    from cogaze.explain.evaluate_gaze import evaluate_gaze, gaze_table_rows
    from cogaze.explain.predict import ground_report, scanpath_from_prediction
    from cogaze.gaze.heatmaps import reading_maps
    from cogaze.html.overlay import draw_scanpath, gaze_panel

    recs = held_out(s)
    s.page.add_section("Where the radiologist looks", "Predicted gaze (transcript->patch similarity, as trained "
                       "by the gaze loss) against the simulated radiologist's fixations on held-out test "
                       "images, scored with saliency metrics; centre-bias and uniform maps are the baselines.")
    if not recs:
        s.page.add_paragraph("The test split has no gaze readings at this phantom size.")
        return
    table = evaluate_gaze(recs, {"CoGaze": EncoderPredictor(s.encoder, s.encoder.geometry)},
                          icc_boot=200, sauc_splits=50, seed=s.cfg.seed)
    s.results["gaze"] = {name: {k: v.mean for k, v in row.items()} for name, row in table.items()}
    s.page.add_table(gaze_table_rows(table), caption="Mean [95% CI] over held-out transcript rows.")
    # Per-sentence pictures for two readings: true map (from the fixations) vs predicted map.
    shown = 0
    for rec in recs:
        reading = rec.gaze[0]
        image = read_image(rec.image_path)
        true_maps, _ = reading_maps(reading)  # (k + 1, H, W): each sentence, then the paragraph
        sentences = [t.text for t in reading.sentences]
        grounded = ground_report(s.encoder, image, " ".join(sentences), view=rec.view,
                                 indication=rec.indication, history=rec.history)
        items = []
        for g, true in zip(grounded, true_maps[: len(sentences)]):
            items.append((gaze_panel(image, true, g.heatmap), g.sentence))
        if items:
            s.page.add_image_grid(items[:4], caption=f"Image {rec.dicom_id[:17]}...: radiologist (left) vs "
                                  "predicted (right) gaze per dictated sentence.", columns=2)
            path = scanpath_from_prediction(grounded[0].prediction, n_fixations=8, seed=s.cfg.seed)
            s.page.add_image_grid([(draw_scanpath(image, path), "predicted scanpath")], columns=3)
            shown += 1
        if shown >= 2:
            break
