"""Gaze overlays, true-vs-predicted panels and scanpath drawings."""

from __future__ import annotations

import numpy as np
import pytest

from cogaze.html.overlay import draw_scanpath, gaze_panel, heatmap_overlay, resize_heatmap


def _xray(h=96, w=128, seed=0):
    return np.random.default_rng(seed).integers(40, 200, size=(h, w), dtype=np.uint8)


def _colourfulness(rgb):
    rgb = rgb.astype(int)
    return rgb.max(axis=2) - rgb.min(axis=2)


def test_overlay_shape_dtype_and_hottest_is_most_coloured():
    img = _xray()
    heat = np.zeros((7, 7))  # coarse patch grid, resized to the image
    heat[2, 5] = 1.0
    heat[5, 1] = 0.4
    out = heatmap_overlay(img, heat, alpha_max=0.6)
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8
    big = resize_heatmap(heat, 96, 128)
    col = _colourfulness(out)
    hottest = np.unravel_index(np.argmax(big), big.shape)
    most_coloured = np.unravel_index(np.argmax(col), col.shape)
    assert most_coloured == hottest
    # colourfulness is alpha * 255 exactly: at the peak 0.6 * 255 = 153 (+-1 rounding)
    assert abs(int(col[hottest]) - 153) <= 1
    # where the heatmap is zero the X-ray is untouched (gray)
    zero = big == 0
    assert zero.any()
    assert np.array_equal(out[zero][:, 0], img[zero]) and np.array_equal(out[zero][:, 1], img[zero])
    # the hot spot is red, the weaker one is not red
    r, g, b = out[hottest].astype(int)
    assert r > g and r > b


def test_overlay_peak_location_on_full_resolution_map():
    img = _xray(64, 80)
    heat = np.zeros((64, 80))
    heat[10, 70] = 5.0
    heat[50, 8] = 4.0
    col = _colourfulness(heatmap_overlay(img, heat))
    assert np.unravel_index(np.argmax(col), col.shape) == (10, 70)


def test_overlay_edge_cases():
    img = _xray(16, 16)
    assert np.array_equal(heatmap_overlay(img, np.zeros((4, 4)))[:, :, 0], img)  # nothing to colour
    flat = heatmap_overlay(img, np.arange(16.0))  # flat square patch grid is accepted
    assert flat.shape == (16, 16, 3)
    rgb = np.stack([img] * 3, axis=2)
    assert heatmap_overlay(rgb, np.ones((2, 2))).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="NaN"):
        heatmap_overlay(img, np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="square patch grid"):
        heatmap_overlay(img, np.ones(15))
    with pytest.raises(ValueError, match="uint8"):
        heatmap_overlay(img.astype(float), np.ones((4, 4)))


def test_gaze_panel_side_by_side_with_caption():
    img = _xray(64, 64)
    t = np.zeros((8, 8))
    t[1, 1] = 1
    p = np.zeros((8, 8))
    p[6, 6] = 1
    panel = gaze_panel(img, t, p, "There is a small left pleural effusion with adjacent atelectasis.")
    assert panel.dtype == np.uint8 and panel.ndim == 3
    gap = max(4, 64 // 50)
    head = int(max(11, min(22, 64 // 18)) * 1.8)
    assert panel.shape[1] == 2 * 64 + gap and panel.shape[0] > head + 64  # caption strip below
    top = panel[:head]
    assert (top < 128).any()  # the labels, in a strip above the images
    left, right = panel[head:head + 64, :64], panel[head:head + 64, 64 + gap:]
    np.testing.assert_array_equal(left, heatmap_overlay(img, t))
    np.testing.assert_array_equal(right, heatmap_overlay(img, p))
    cl, cr = _colourfulness(left), _colourfulness(right)
    peak = np.unravel_index(np.argmax(cl), cl.shape)
    assert abs(peak[0] - 11) <= 1 and abs(peak[1] - 11) <= 1  # true map hot top-left (ties at rounding)
    assert cr[40:, 40:].max() > 100 and cr[:24, :24].max() == 0  # predicted hot bottom-right only
    caption = panel[head + 64:]
    assert (caption < 128).any() and (caption == 255).mean() > 0.5  # dark text on white
    assert gaze_panel(img, t, p).shape == (head + 64, 2 * 64 + gap, 3)


def test_draw_scanpath_circles_sized_by_duration():
    img = np.full((100, 100), 60, np.uint8)
    fix = [(20.0, 20.0, 0.1), (80.0, 80.0, 0.6)]
    out = draw_scanpath(img, fix, min_radius=4, max_radius=12, numbered=False)
    assert out.shape == (100, 100, 3) and out.dtype == np.uint8
    changed = np.any(out != 60, axis=2)

    def extent(cx, cy):  # changed pixels along the row through the centre, away from the line
        row = changed[cy, cx - 20:cx + 21]
        return int(row.sum())

    small, large = extent(20, 20), extent(80, 80)
    assert 7 <= small <= 11 and 22 <= large <= 27  # diameters ~ 2*4+1 and 2*12+1
    assert changed[50, 50]  # the connecting line passes through the midpoint
    assert not changed[10, 90]  # far from both
    numbered = draw_scanpath(img, fix)
    assert numbered.shape == (100, 100, 3)
    assert np.array_equal(draw_scanpath(img, []), np.stack([img] * 3, axis=2))
    with pytest.raises(ValueError, match="non-negative"):
        draw_scanpath(img, [(1, 1, -0.1)])
