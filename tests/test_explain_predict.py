import json
import math

import numpy as np
import pytest
from PIL import Image

from cogaze.data.geometry import ImageGeometry
from cogaze.explain.backproject import crop_box, patch_map_to_image
from cogaze.explain.predict import (
    DEFAULT_PROMPTS,
    ground_report,
    predict_gaze,
    predict_gazes,
    predict_scanpath,
    report_sentences,
    scanpath_from_prediction,
)
from cogaze.explain.write import write_explanation
from cogaze.models.interface import VisionLanguageEncoder
from explain_fakes import FakeEncoder

GEO = ImageGeometry(size=16)


def _image(w, h, value=40):
    return np.full((h, w), value, dtype=np.uint8)


def _argmax_xy(m):
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    return c + 0.5, r + 0.5


def test_fake_is_an_encoder():
    assert isinstance(FakeEncoder(), VisionLanguageEncoder)


def test_wide_image_peak_and_crop():
    # 60 x 40 -> resized 24 x 16, crop left 4: the encoder sees x in [10, 50); patch = 10 x 10 pixels
    pred = predict_gaze(FakeEncoder(), _image(60, 40), "left lower", geometry=GEO)
    assert pred.crop_box == pytest.approx((10.0, 0.0, 50.0, 40.0))
    assert pred.peak == pytest.approx((15.0, 35.0))
    h = pred.heatmap
    assert h.shape == (40, 60) and h.sum() == pytest.approx(1.0, abs=1e-5)
    assert h[:, :10].max() == 0 and h[:, 50:].max() == 0 and h[:, 10:50].min() > 0
    x, y = _argmax_xy(h)  # bilinear between patch centres, flat beyond the outer ones: max in the patch
    assert 10 <= x < 20 and 30 <= y < 40 and h[36, 12] == h.max()
    # softmax over 16 patches, T = 0.07: peak 1.0, 6 cells 0.5 (rest of its row and column), 9 cells 0
    t = 0.07
    z = math.exp(1 / t) + 6 * math.exp(0.5 / t) + 9
    assert pred.patch_map[3, 0] == pytest.approx(math.exp(1 / t) / z)
    assert pred.patch_map[0, 0] == pytest.approx(math.exp(0.5 / t) / z)
    assert pred.patch_map.sum() == pytest.approx(1.0) and pred.similarity[3, 0] == pytest.approx(1.0)


def test_tall_image_and_temperature():
    # 30 x 50 -> 16 x int(16 * 50 / 30) = 26 (y scale 0.52), crop top 5: the encoder sees y in [5, 21) / 0.52
    enc = FakeEncoder()
    pred = predict_gaze(enc, _image(30, 50), "right upper", geometry=GEO, temperature=1.0)
    y0, y1 = crop_box(GEO, (30, 50))[1::2]
    assert (y0, y1) == pytest.approx((5 / 0.52, 21 / 0.52))
    assert pred.peak == pytest.approx((30 - 30 / 8, y0 + (y1 - y0) / 8))
    h = pred.heatmap
    assert h[:10].max() == 0 and h[40:].max() == 0 and h[10:40].min() > 0
    assert pred.temperature == 1.0
    z = math.e + 6 * math.exp(0.5) + 9
    assert pred.patch_map[0, 3] == pytest.approx(math.e / z)
    enc.gaze_temperature = 0.5  # an adapter may expose its learned temperature
    assert predict_gaze(enc, _image(30, 50), "right upper", geometry=GEO).temperature == 0.5


class _NormalisingEncoder(FakeEncoder):
    """An encoder that declares its own geometry (resize + normalisation), as every pretrained one does."""

    geometry = ImageGeometry(size=16, mean=(0.5, 0.5, 0.5), std=(0.1, 0.1, 0.1))


def test_without_a_geometry_the_encoders_own_is_used():
    # Regression: a missing geometry once meant "resize only": un-normalised pixels, silently other maps
    # (the demo's sentence panels and `cogaze explain` peaked at the top edge for every sentence).
    enc, img = _NormalisingEncoder(), _image(60, 40, 20)
    img[0:10, 30:40] = 250
    own = predict_gaze(enc, img, "bright spot", geometry=enc.geometry)
    plain = predict_gaze(enc, img, "bright spot", geometry=GEO)
    default = predict_gaze(enc, img, "bright spot")
    np.testing.assert_array_equal(default.similarity, own.similarity)
    assert default.geometry == enc.geometry
    # the fake's similarity is the patch's mean pixel: normalised = (resize-only - 0.5) / 0.1
    np.testing.assert_allclose(own.similarity, (plain.similarity - 0.5) / 0.1, atol=1e-5)
    assert own.similarity.max() > 4 and plain.similarity.max() < 1
    grounded = ground_report(enc, img, "Bright spot. Left lower.")
    np.testing.assert_array_equal(grounded[0].prediction.patch_map, own.patch_map)


def test_image_content_is_found_through_the_geometry():
    img = _image(60, 40, 20)
    img[0:10, 30:40] = 250  # patch (0, 2) of the crop
    pred = predict_gaze(FakeEncoder(), img, "bright spot", geometry=GEO)
    assert np.unravel_index(np.argmax(pred.patch_map), (4, 4)) == (0, 2)
    assert pred.peak == pytest.approx((35.0, 5.0))


def test_text_free_map_is_the_mean_over_prompts():
    enc = FakeEncoder()
    pred = predict_gaze(enc, _image(20, 20), None, geometry=GEO)
    assert pred.text is None and pred.prompts == DEFAULT_PROMPTS
    assert enc.calls[-1] == (len(DEFAULT_PROMPTS), DEFAULT_PROMPTS)  # one batch
    both = predict_gazes(enc, _image(20, 20), [None], geometry=GEO, prompts=["left", "right"])[0]
    single = [predict_gaze(enc, _image(20, 20), t, geometry=GEO).patch_map for t in ("left", "right")]
    np.testing.assert_allclose(both.patch_map, (single[0] + single[1]) / 2)
    assert both.patch_map[1, 0] == pytest.approx(both.patch_map[1, 3])


def test_bad_inputs():
    enc = FakeEncoder()
    with pytest.raises(ValueError, match="uint8"):
        predict_gaze(enc, np.zeros((10, 10)), "x", geometry=GEO)
    with pytest.raises(ValueError, match="image size"):
        predict_gaze(enc, _image(10, 10), "x", geometry=ImageGeometry(size=32))
    with pytest.raises(ValueError, match="empty"):
        predict_gaze(enc, _image(10, 10), "  ", geometry=GEO)
    with pytest.raises(ValueError, match="view"):
        predict_gaze(enc, _image(10, 10), "x", geometry=GEO, view="SIDEWAYS")
    with pytest.raises(ValueError, match="no sentences"):
        ground_report(enc, _image(10, 10), "  \n", geometry=GEO)


def test_nearest_backprojection_keeps_patch_mass():
    p = np.arange(16, dtype=float).reshape(4, 4)
    p /= p.sum()
    m = patch_map_to_image(p, GEO, (60, 40), interpolation="nearest")
    # every patch covers 10 x 10 original pixels: mass per patch is preserved exactly
    blocks = m[:, 10:50].reshape(4, 10, 4, 10).sum(axis=(1, 3))
    np.testing.assert_allclose(blocks, p)


REPORT = """FINDINGS: Small pleural effusion at the LEFT LOWER zone.
Enlarged heart, more to the right upper side.
IMPRESSION: No pneumothorax."""


def test_ground_report_one_map_per_sentence_with_findings():
    enc = FakeEncoder()
    out = ground_report(enc, _image(60, 40), REPORT, geometry=GEO)
    assert [g.sentence for g in out] == ["Small pleural effusion at the LEFT LOWER zone",
                                         "Enlarged heart, more to the right upper side", "No pneumothorax"]
    assert [g.findings for g in out] == [{"Pleural Effusion": "positive"}, {"Cardiomegaly": "positive"},
                                         {"Pneumothorax": "negative"}]
    assert len(enc.calls) == 1 and enc.calls[0][0] == 3  # all sentences in one batch
    assert out[0].prediction.peak == pytest.approx((15.0, 35.0))
    assert out[1].prediction.peak == pytest.approx((45.0, 5.0))
    assert np.ptp(out[2].prediction.patch_map) == pytest.approx(0.0)  # no location words: uniform
    assert out[0].heatmap.shape == (40, 60)
    sentence, heatmap = out[0]
    assert sentence == out[0].sentence and heatmap is out[0].prediction.heatmap
    assert report_sentences("Heart normal.Lungs clear") == ["Heart normal", "Lungs clear"]


def test_scanpath_first_on_peak_and_deterministic():
    enc = FakeEncoder()
    img = _image(60, 40)
    path = predict_scanpath(enc, img, "left lower", geometry=GEO, n_fixations=5)
    assert len(path) == 5
    x, y, d = path[0]
    assert 10 <= x < 20 and 30 <= y < 40 and d == pytest.approx(0.5, abs=0.01)  # peak patch, max saliency
    assert all(10 <= x < 50 and 0 <= y < 40 for x, y, _ in path)  # never outside what the encoder saw
    assert path == predict_scanpath(enc, img, "left lower", geometry=GEO, n_fixations=5)
    pred = predict_gaze(enc, img, "left lower", geometry=GEO)
    a = scanpath_from_prediction(pred, 6, mode="stochastic", seed=3)
    assert a == scanpath_from_prediction(pred, 6, mode="stochastic", seed=3)
    assert a != scanpath_from_prediction(pred, 6, mode="stochastic", seed=4)
    # inhibition of return: no two fixations closer than the radius (default: 0.1 * 40 = 4 pixels)
    pts = np.array([(x, y) for x, y, _ in path])
    dist = np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1))
    assert dist[np.triu_indices(5, 1)].min() > 4.0


def test_write_explanation_round_trip(tmp_path):
    enc = FakeEncoder()
    img = _image(60, 40, 90)
    grounded = ground_report(enc, img, REPORT, geometry=GEO)
    path = predict_scanpath(enc, img, "left lower", geometry=GEO, n_fixations=4)
    payload = write_explanation(grounded, img, tmp_path / "out", scanpath=path)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["explanation.json", "map_00.png", "map_01.png",
                                                    "map_02.png", "scanpath.png"]
    assert payload["files"] == ["map_00.png", "map_01.png", "map_02.png", "scanpath.png", "explanation.json"]
    s = 512 / 60  # a small image is enlarged (longer side 512) so the maps stay legible
    for name in ("map_00.png", "scanpath.png"):
        with Image.open(out / name) as im:
            im.load()
            assert im.size[0] == 512 and im.size[1] > round(40 * s) + 14 and im.mode == "RGB"  # + caption strip
    overlay = np.asarray(Image.open(out / "map_00.png")).astype(int)
    colour = overlay.max(axis=2) - overlay.min(axis=2)
    image, caption = colour[:round(40 * s)], overlay[round(40 * s) + 2:]
    assert image[:, :round(7.5 * s) - 2].max() == 0 and image[round(35 * s), round(15 * s)] > image[round(5 * s), round(45 * s)]
    assert colour[round(40 * s) + 2:].max() <= 12 and caption.min() < 100  # dark text on white, no heat colours
    loaded = json.loads((out / "explanation.json").read_text())
    assert loaded == payload
    assert loaded["image_size"] == [60, 40] and len(loaded["maps"]) == 3
    first = loaded["maps"][0]
    assert first["peak"] == [15.0, 35.0] and first["findings"] == {"Pleural Effusion": "positive"}
    grid = np.array(first["grid"])
    assert grid.shape == (8, 8) and grid.sum() == pytest.approx(1.0, abs=1e-3)
    assert np.unravel_index(grid.argmax(), grid.shape)[0] >= 6 and grid[:, 0].max() == 0  # bottom; x<7.5 cut
    assert loaded["scanpath"][0][:2] == pytest.approx(list(path[0][:2]), abs=0.01)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert (out / "map_00.png").stat().st_mode & 0o044 == 0o044  # readable by others (umask 022), not 0600
    with pytest.raises(ValueError, match="image"):
        write_explanation(grounded, _image(30, 30), tmp_path / "bad")


@pytest.mark.parametrize(("report", "expected"), [
    # a MIMIC-style impression: numbered items, the notification sentence with its abbreviations kept whole
    ("FINDINGS: PA and lateral views. Small left effusion.\n\nIMPRESSION:\n1. Small left effusion.\n"
     "2. No pneumothorax; Dr. ___ was notified at 10:30 a.m. on ___.",
     ["PA and lateral views", "Small left effusion", "Small left effusion", "No pneumothorax",
      "Dr. ___ was notified at 10:30 a.m. on ___"]),
    ("IMPRESSION: 1. Interval increase in right pleural effusion 2. Stable cardiomegaly",
     ["Interval increase in right pleural effusion", "Stable cardiomegaly"]),
    ("1) Effusion. 2) Edema.", ["Effusion", "Edema"]),
    ("Tip at the level of T12. Stable heart size. Lungs clear, e.g. no edema.",
     ["Tip at the level of T12", "Stable heart size", "Lungs clear, e.g. no edema"]),
    ("ET tube 4.5 cm above the carina. No change.", ["ET tube 4.5 cm above the carina", "No change"]),
    ("   ", []),
])
def test_report_sentences_of_dictated_reports(report, expected):
    """Each sentence gets a gaze map, so abbreviations and list numbers must not make fragments
    ("Dr", "m", "1") the way the labeler's split does."""
    assert report_sentences(report) == expected
