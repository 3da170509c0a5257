"""Grounding metrics against hand-computed values, and the ground-truth loaders on schema fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cogaze.data.grounding import GroundingRegion, load_box_csv, load_reflacx_ellipses, region_mask
from cogaze.errors import DataError
from cogaze.gaze.metrics.grounding import (
    box_iou,
    cnr,
    iou_of_boxes,
    own_box_preference,
    peak_component,
    pointing_game,
    top_k_hit_rate,
)


def _region(shape, r0, r1, c0, c1):
    m = np.zeros(shape, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def test_pointing_game_hit_miss_and_ties():
    s = np.zeros((4, 4))
    s[1, 2] = 5.0
    assert pointing_game(s, _region((4, 4), 0, 2, 2, 4)) == 1.0
    assert pointing_game(s, _region((4, 4), 2, 4, 0, 4)) == 0.0
    flat = np.ones((4, 4))  # every cell ties: the hit is the region's area fraction (4 of 16)
    assert pointing_game(flat, _region((4, 4), 0, 2, 0, 2)) == 0.25
    with pytest.raises(ValueError, match="empty"):
        pointing_game(s, np.zeros((4, 4), bool))


def test_top_k_hit_rate_hand_computed():
    s = np.arange(16, dtype=float).reshape(4, 4)  # top 4 cells = the last row
    region = _region((4, 4), 3, 4, 0, 2)  # holds 2 of them
    assert top_k_hit_rate(s, region, 0.25) == 0.5
    assert top_k_hit_rate(s, region, 1 / 16) == 0.0  # top-1 cell (3, 3) is outside
    assert top_k_hit_rate(s, _region((4, 4), 3, 4, 3, 4), 1 / 16) == 1.0


def test_cnr_matches_bioVil_formula():
    s = np.array([[1.0, 3.0], [0.0, 2.0]])
    region = np.array([[True, True], [False, False]])
    # inside {1, 3}: mean 2, var 1; outside {0, 2}: mean 1, var 1 -> |2 - 1| / sqrt(2)
    assert cnr(s, region) == pytest.approx(1 / math.sqrt(2))
    assert cnr(np.ones((2, 2)), region) == 0.0
    assert math.isnan(cnr(s, np.ones((2, 2), bool)))


def test_box_iou_of_thresholded_peak_component():
    s = np.zeros((6, 6))
    s[1:3, 1:3] = 1.0  # the peak blob: box (1, 1, 3, 3)
    s[5, 5] = 0.9  # a second blob above threshold, not connected: ignored
    assert peak_component(s).sum() == 4
    region = _region((6, 6), 1, 3, 1, 4)  # box (1, 1, 4, 3): area 6, intersection 4
    assert box_iou(s, region) == pytest.approx(4 / 6)
    assert iou_of_boxes((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)


def test_own_box_preference():
    s = np.zeros((4, 4))
    s[0, 0] = 1.0
    own, other = _region((4, 4), 0, 2, 0, 2), _region((4, 4), 2, 4, 2, 4)
    assert own_box_preference(s, own, other) == 1.0
    assert own_box_preference(s, other, own) == 0.0
    assert own_box_preference(np.ones((4, 4)), own, other) == 0.5
    assert math.isnan(own_box_preference(s, own, own))


def test_region_mask_box_ellipse_and_tiny():
    box = GroundingRegion("d", "t", "l", (0, 0, 50, 100), (100, 100))
    m = region_mask(box, (4, 4))
    assert m[:, :2].all() and not m[:, 2:].any()
    ell = GroundingRegion("d", "t", "l", (0, 0, 100, 100), (100, 100), "ellipse")
    e = region_mask(ell, (10, 10))
    assert e[5, 5] and not e[0, 0] and e.sum() < 100
    tiny = GroundingRegion("d", "t", "l", (10, 10, 11, 11), (100, 100))
    assert region_mask(tiny, (4, 4)).sum() == 1 and region_mask(tiny, (4, 4))[0, 0]


def test_load_box_csv_ms_cxr_schema(tmp_path):
    p = tmp_path / "ms_cxr.csv"
    p.write_text("dicom_id,category_name,label_text,x,y,w,h,image_width,image_height\n"
                 "abc,Pneumothorax,small left apical pneumothorax,10,20,30,40,200,100\n")
    (r,) = load_box_csv(p)
    assert r.box == (10.0, 20.0, 40.0, 60.0) and r.image_size == (200, 100) and r.label == "Pneumothorax"
    p.write_text("dicom_id,category_name,label_text,x,y,w,h,image_width,image_height\nabc,P,t,10,20,0,40,200,100\n")
    with pytest.raises(DataError, match="line 2"):
        load_box_csv(p)


def test_load_reflacx_ellipses_schema(tmp_path):
    main = tmp_path / "main_data"
    (main / "P1R1").mkdir(parents=True)
    (main / "metadata_phase_3.csv").write_text(
        "id,split,eye_tracking_data_discarded,image,dicom_id,subject_id,image_size_x,image_size_y\n"
        "P1R1,test,False,x.dcm,dcm1,1,300,200\n")
    (main / "P1R1" / "anomaly_location_ellipses.csv").write_text(
        "xmin,ymin,xmax,ymax,certainty,Pleural abnormality,Pneumothorax\n"
        "10,20,110,120,4,True,False\n"
        "0,0,50,50,2,False,True\n")  # certainty 2 < 3: dropped
    (r,) = load_reflacx_ellipses(tmp_path)
    assert (r.dicom_id, r.label, r.shape, r.box, r.image_size) == ("dcm1", "Pleural abnormality", "ellipse",
                                                                   (10.0, 20.0, 110.0, 120.0), (300, 200))
    assert len(load_reflacx_ellipses(tmp_path, min_certainty=1)) == 2
    (main / "P1R1" / "anomaly_location_ellipses.csv").write_text("xmin,ymin,xmax,ymax,certainty,Other\n1,1,5,5,9,True\n")
    with pytest.raises(DataError, match="certainty"):
        load_reflacx_ellipses(tmp_path)
