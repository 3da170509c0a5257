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
