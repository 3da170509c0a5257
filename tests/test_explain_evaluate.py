import math

import numpy as np
import pytest
from scipy import stats

from cogaze.data import FixationTable, GazeReading, TimedSentence
from cogaze.data.geometry import ImageGeometry
from cogaze.data.records import ImageRecord
from cogaze.explain.baselines import (
    CentreBiasPredictor,
    EncoderPredictor,
    UniformPredictor,
    eval_shape,
    fit_centre_prior,
)
from cogaze.explain.evaluate_gaze import (
    centroid_icc_ci,
    evaluate_gaze,
    gaze_table_rows,
    gaze_units,
    mean_ci,
)
from cogaze.gaze.metrics import centroid_icc
from cogaze.html.page import ReportPage
from explain_fakes import FakeEncoder

SIZES = [(200, 160), (160, 200), (180, 180), (240, 150), (150, 150), (210, 190)]


def _record(i: int, seed: int = 0) -> ImageRecord:
    """Two sentences, each looked at around its own off-centre spot (4 fixations of 0.3 s)."""
    rng = np.random.default_rng(seed + i)
    w, h = SIZES[i]
    spots = [(rng.uniform(0.1, 0.35) * w, rng.uniform(0.1, 0.9) * h),
             (rng.uniform(0.65, 0.9) * w, rng.uniform(0.1, 0.9) * h)]
    xs, ys, t0 = [], [], []
    for k, (cx, cy) in enumerate(spots):
        for j in range(4):
            xs.append(cx + rng.normal(0, 3))
            ys.append(cy + rng.normal(0, 3))
            t0.append(k * 5.0 + j * 0.4)
    fx = FixationTable(x=xs, y=ys, start=t0, end=np.array(t0) + 0.3)
    sents = (TimedSentence("There is a pleural effusion.", 1.0, 1.6),
             TimedSentence("The heart is enlarged.", 6.0, 6.6))
    reading = GazeReading(f"r{i}", f"d{i}", "egd", fx, sents, "", (w, h))
    return ImageRecord(f"d{i}", f"s{i}", f"t{i}", None, split="test", gaze=(reading,))


RECORDS = [_record(i) for i in range(len(SIZES))]


def _oracle():
    truth = {(u.record.dicom_id, u.text): u.true_map for u in gaze_units(RECORDS)}
    return lambda record, text: truth[(record.dicom_id, text)]


def test_units():
    units = gaze_units(RECORDS)
    assert [u.level for u in units[:3]] == ["paragraph", "sentence", "sentence"] and len(units) == 18
    assert units[0].text == "There is a pleural effusion. The heart is enlarged."
    assert units[1].findings == ("Pleural Effusion",) and units[2].findings == ("Cardiomegaly",)
    assert units[0].true_map.shape == eval_shape((200, 160)) == (102, 128)
    assert len(units[0].fixations) == 8 and len(units[1].fixations) == 4
    # fixations on the raster: x scaled by 128 / 200
    assert units[0].fixations[0, 0] == pytest.approx(RECORDS[0].gaze[0].fixations.x[0] * 128 / 200)


def test_perfect_predictor_beats_centre_bias_and_uniform_is_chance():
    table = evaluate_gaze(RECORDS, {"oracle": _oracle()}, sauc_splits=20, icc_boot=100)
    assert list(table) == ["oracle", "centre bias", "uniform"]
    o, c, u = table["oracle"], table["centre bias"], table["uniform"]
    assert o["nss"].mean > c["nss"].mean + 1 and o["sauc"].mean > c["sauc"].mean + 0.1
    assert o["sentence_nss"].mean > c["sentence_nss"].mean and o["sentence_sauc"].mean > c["sentence_sauc"].mean
    assert o["cc"].mean == pytest.approx(1.0) and o["kld"].mean == pytest.approx(0.0, abs=1e-9)
    assert o["ig"].mean > 0 and c["ig"].mean == pytest.approx(0.0, abs=1e-9)  # IG over itself
    assert u["nss"].mean == 0.0 and u["cc"].mean == 0.0 and u["sauc"].mean == pytest.approx(0.5)
    assert u["nss"].n == 6 and u["sentence_nss"].n == 12
    assert o["centroid_icc"].mean == pytest.approx(1.0) and o["centroid_icc"].n == 12
    assert c["centroid_icc"].mean < 0.1  # the same centre for every finding
    for s in (o["nss"], c["sauc"], o["multimatch"]):
        assert s.lo < s.mean < s.hi
    assert 0 < o["multimatch"].mean <= 1 and o["mm_position"].n == 6


def test_mean_ci_hand_values():
    s = mean_ci([1.0, 2.0, 3.0, 4.0, float("nan")])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2  # t(0.975, 3) * sd / sqrt(4)
    assert (s.mean, s.n) == (2.5, 4)
    assert (s.lo, s.hi) == pytest.approx((2.5 - half, 2.5 + half))
    assert stats.t.ppf(0.975, 3) == pytest.approx(3.182446305284263)
    one = mean_ci([7.0])
    assert one.mean == 7.0 and math.isnan(one.lo) and one.n == 1
    assert mean_ci([]).n == 0 and math.isnan(mean_ci([]).mean)


def test_centroid_icc_ci_matches_metric():
    rng = np.random.default_rng(1)
    true = rng.uniform(0.2, 0.8, size=(10, 2))
    pred = true + rng.normal(0, 0.05, size=(10, 2))
    pairs = np.column_stack([pred, true])
    s = centroid_icc_ci(pairs, n_boot=200)
    maps_p = [_dot(*p) for p in pred]
    maps_t = [_dot(*t) for t in true]
    assert s.mean == pytest.approx(centroid_icc(maps_p, maps_t)["icc"], abs=0.02)
    assert s.lo < s.mean < s.hi <= 1.0 and s.n == 10
    assert math.isnan(centroid_icc_ci(pairs[:2]).mean)


def _dot(x, y, n=100):
    m = np.zeros((n, n))
    m[int(y * n), int(x * n)] = 1.0
    return m


def test_rows_for_report_page(tmp_path):
    table = evaluate_gaze(RECORDS[:3], {"oracle": _oracle()}, sauc_splits=5, icc_boot=20)
    rows = gaze_table_rows(table)
    assert [r["predictor"] for r in rows] == ["oracle", "centre bias", "uniform"]
    o = table["oracle"]["nss"]
    assert rows[0]["NSS"] == f"{o.mean:.3f} [{o.lo:.3f}, {o.hi:.3f}]" and rows[0]["readings"] == "3"
    assert rows[2]["NSS"].startswith("0.000")
    page = ReportPage("gaze")
    page.add_table(rows, caption="gaze")
    page.write(tmp_path / "p.html")
    assert "sAUC" in (tmp_path / "p.html").read_text()
    with pytest.raises(ValueError, match="unknown gaze metric"):
        gaze_table_rows(table, ["bogus"])


def test_reading_without_usable_fixations_is_skipped_and_logged(caplog):
    fx = FixationTable(x=[float("nan"), 500.0], y=[5.0, 5.0], start=[0.0, 1.0], end=[0.2, 1.2])
    bad = ImageRecord("z", "s", "t", None, gaze=(GazeReading("rz", "z", "egd", fx, (), "", (50, 50)),))
    with caplog.at_level("WARNING"):
        units = gaze_units([bad, RECORDS[0]])
    assert len(units) == 3 and "skipped 1 reading" in caplog.text


def test_bad_predictor_and_empty_input():
    with pytest.raises(ValueError, match="negative"):
        evaluate_gaze(RECORDS[:2], {"bad": lambda r, t: -np.ones((4, 4))}, baselines=False)
    with pytest.raises(ValueError, match="no gaze"):
        evaluate_gaze([ImageRecord("x", "s", "t", None)], {})


def test_fitted_centre_prior_hand_values():
    fx = FixationTable(x=[20.0, 60.0], y=[10.0, 30.0], start=[0.0, 1.0], end=[0.1, 1.3])
    reading = GazeReading("r", "d", "egd", fx, (), "", (80, 40))
    prior = fit_centre_prior([ImageRecord("d", "s", "t", None, gaze=(reading,))], min_var=0.0)
    # duration weights 0.1 and 0.3: mean x = (0.25 * 0.1 + 0.75 * 0.3) / 0.4
    assert prior.mean == pytest.approx((0.625, 0.625))
    var = (0.1 * 0.375**2 + 0.3 * 0.125**2) / 0.4
    assert prior.cov[0][0] == pytest.approx(var) and prior.cov[0][1] == pytest.approx(var)
    d = fit_centre_prior(RECORDS).density((20, 30))
    assert d.shape == (20, 30) and d.sum() == pytest.approx(1.0)


def test_encoder_predictor_on_the_fake():
    images = {f"d{i}": np.full(SIZES[i][::-1], 50, np.uint8) for i in range(3)}
    recs = [r.__class__(**{**r.__dict__, "image_path": f"{r.dicom_id}.png"}) for r in RECORDS[:3]]
    enc = FakeEncoder()
    pred = EncoderPredictor(enc, ImageGeometry(size=16), load_image=lambda p: images[str(p)[:-4]])
    m = pred(recs[0], "left lower")
    assert m.shape == eval_shape(SIZES[0]) and m.sum() == pytest.approx(1.0)
    table = evaluate_gaze(recs, {"fake": pred, "centre": CentreBiasPredictor(), "flat": UniformPredictor()},
                          baselines=False, sauc_splits=5, icc_boot=20)
    assert set(table) == {"fake", "centre", "flat"}
    # the fake has no location words in these texts: a uniform map over the crop
    assert table["fake"]["nss"].n == 3 and np.isfinite(table["fake"]["sauc"].mean)
