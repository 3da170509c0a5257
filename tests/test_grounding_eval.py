"""Sentence maps that follow the text: the grounding evaluation end to end on fixtures with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cogaze.data.geometry import ImageGeometry
from cogaze.data.grounding import GroundingRegion
from cogaze.data.records import ImageRecord
from cogaze.explain.baselines import EncoderPredictor
from cogaze.explain.evaluate_grounding import TextFreePredictor, evaluate_grounding, grounding_units
from cogaze.gaze.metrics import centre_bias
from cogaze.models.losses import gaze_loss
from explain_fakes import FakeEncoder


def _fixture():
    rec = ImageRecord("img", "s", "t", Path("img.png"), split="test")
    regions = [GroundingRegion("img", "left lower opacity", "Lung Opacity", (0, 12, 4, 16), (16, 16), key="a"),
               GroundingRegion("img", "right upper nodule", "Lung Lesion", (12, 0, 16, 4), (16, 16), key="b")]
    return rec, regions


def test_two_sentences_point_to_two_places_through_the_readout():
    rec, regions = _fixture()
    units = grounding_units([rec], regions, eval_side=16)
    assert len(units) == 2 and all(len(u.others) == 1 for u in units)
    model = EncoderPredictor(FakeEncoder(), ImageGeometry(size=16), eval_side=16,
                             load_image=lambda _: np.full((16, 16), 128, np.uint8))
    peaks = [np.unravel_index(np.argmax(model(rec, u.text)), (16, 16)) for u in units]
    assert peaks[0][0] >= 12 and peaks[0][1] < 4 and peaks[1][0] < 4 and peaks[1][1] >= 12
    table = evaluate_grounding(units, {"model": model, "text-free": TextFreePredictor(model),
                                       "centre": lambda r, t: centre_bias((16, 16))})
    assert table["model"]["pointing"].mean == 1.0 and table["model"]["own_box"].mean == 1.0
    assert table["model"]["cc_sentences"].mean < 0  # the two maps are anti-correlated, not alike
    assert table["centre"]["pointing"].mean == 0.0 and table["centre"]["own_box"].mean == 0.5
    assert table["text-free"]["cc_text_free"].mean == pytest.approx(1.0)


def test_gaze_loss_alone_learns_text_specific_maps():
    """Two texts whose gaze targets lie in different corners of a 4x4 grid, plus a shared paragraph
    row: trained on the paper's loss (JS, top-rho 0.25, weights 0.2/0.8) the texts' maps peak in
    their own corners."""
    torch.manual_seed(0)
    g, d = 4, 16
    patch_feats = torch.randn(1, g * g, d)  # fixed "backbone" patch features
    proj = torch.nn.Linear(d, d)
    text = torch.nn.Parameter(torch.randn(3, d) * 0.01)  # text 0, text 1, paragraph
    maps = torch.zeros(3, g * g)
    maps[0, [12, 13, 8]] = torch.tensor([1.0, 0.6, 0.5])  # lower left
    maps[1, [3, 2, 7]] = torch.tensor([1.0, 0.6, 0.5])  # upper right
    maps[2] = maps[0] + maps[1] + 0.2
    opt = torch.optim.Adam([*proj.parameters(), text], lr=0.05)
    scale = torch.tensor(14.0)
    owner, reading = torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long)
    first = None
    for _ in range(150):
        loss = gaze_loss(text, proj(patch_feats), maps, owner, reading, scale)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    with torch.no_grad():
        sim = torch.nn.functional.normalize(text, dim=-1) @ torch.nn.functional.normalize(proj(patch_feats)[0], dim=-1).T
    assert int(sim[0].argmax()) == 12 and int(sim[1].argmax()) == 3


def _peak_at(row: int, col: int):
    def predict(record, text):
        m = np.full((16, 16), 0.01)
        m[row, col] = 1.0
        return m

    return predict


def test_a_phrase_with_several_boxes_is_grounded_on_all_of_them():
    """MS-CXR: one label_text, two boxes (bilateral effusions). A peak in the second box is a hit, and the
    phrase's own second box is never an "other finding"; a different phrase's box is."""
    rec = ImageRecord("img", "s", "t", Path("img.png"), split="test")
    text = "bilateral pleural effusions"
    key = "img:" + text  # what load_box_csv gives every row of one phrase
    regions = [GroundingRegion("img", text, "Pleural Effusion", (0, 12, 4, 16), (16, 16), key=key),
               GroundingRegion("img", text, "Pleural Effusion", (12, 12, 16, 16), (16, 16), key=key),
               GroundingRegion("img", "right upper nodule", "Lung Lesion", (12, 0, 16, 4), (16, 16), key="n")]
    units = {u.text: u for u in grounding_units([rec], regions, eval_side=16)}
    both = units[text]
    assert int(both.region.sum()) == 2 * 16 and len(both.others) == 1
    table = evaluate_grounding([both], {"right box": _peak_at(14, 14), "nodule": _peak_at(1, 14)})
    assert table["right box"]["pointing"].mean == 1.0 and table["right box"]["own_box"].mean == 1.0
    assert table["nodule"]["pointing"].mean == 0.0 and table["nodule"]["own_box"].mean == 0.0


def test_reflacx_label_with_two_ellipses_or_readers_is_one_region():
    """REFLACX: one label drawn as two ellipses (or by two readers: different keys). Pointing at either is a
    hit and neither counts against the other as a different finding."""
    rec = ImageRecord("img", "s", "t", Path("img.png"), split="test")
    regions = [GroundingRegion("img", "Pleural abnormality", "Pleural abnormality", (0, 10, 6, 16), (16, 16),
                               shape="ellipse", key="r1:0", reading_id="r1"),
               GroundingRegion("img", "Pleural abnormality", "Pleural abnormality", (10, 10, 16, 16), (16, 16),
                               shape="ellipse", key="r2:0", reading_id="r2")]
    (unit,) = grounding_units([rec], regions, eval_side=16)
    assert unit.others == ()
    table = evaluate_grounding([unit], {"model": _peak_at(13, 13)})
    assert table["model"]["pointing"].mean == 1.0
