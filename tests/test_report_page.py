"""The self-contained HTML report page: structure, no external URL, escaping, atomic write."""

from __future__ import annotations

import base64
import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from cogaze.html.blocks import label_agreement, normalise_labels
from cogaze.html.images import PNG_SIGNATURE, new_figure
from cogaze.html.page import ReportPage
from html_check import check_page


def _full_page() -> ReportPage:
    page = ReportPage("Run <report>", subtitle="phantom, seed 0")
    page.add_section("Overview", intro="Key numbers & stages.")
    page.add_metrics({"zero-shot AUROC": 0.8123, "P@1": 0.5})
    page.add_stage_status("phantom", 1.25, "ok")
    page.add_stage_status("pretrain", 12.0, "failed", RuntimeError("loss is NaN at step 7"))
    page.add_stage_status("report generation", None, "skipped", "needs pretrain")
    page.add_section("Tables")
    page.add_table([{"metric": "AUROC", "value": 0.81234}, {"metric": "n", "value": 40}], caption="Scores")
    page.add_table([["a", 1.5, None], ["b", float("nan"), 3]], columns=["name", "x", "y"], caption="Second")
    page.add_section("Figures")
    fig = new_figure(3, 2)
    fig.add_subplot(1, 1, 1).plot([0, 1, 2], [2, 1, 0])
    page.add_figure(fig, caption="A line")
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[2, 3] = (255, 0, 0)
    page.add_image_grid([(np.full((4, 6), 128, np.uint8), "gray"), (rgb, "rgb")], caption="grid caption")
    page.add_section("Reports")
    page.add_text_pair("Heart is enlarged.", "Heart size normal.",
                       {"Cardiomegaly": 1, "Edema": 2}, {"Cardiomegaly": 2, "Pleural Effusion": "positive"})
    return page


def test_page_structure_and_no_external_url():
    html = _full_page().render()
    p = check_page(html)
    text = "".join(p.text)
    # every section: a <section> with its heading, and a TOC link to its anchor
    sections = p.tags("section")
    assert [s["id"] for s in sections] == ["s1-overview", "s2-tables", "s3-figures", "s4-reports"]
    hrefs = [a["href"] for a in p.tags("a")]
    for s in sections:
        assert f"#{s['id']}" in hrefs
    for title in ("Overview", "Tables", "Figures", "Reports"):
        assert f"<h2>{title}</h2>" in html
    # 2 user tables + stage table; captions present
    assert len(p.tags("table")) == 3
    assert "Scores" in text and "Second" in text
    # figure + 2 grid images, each a base64 PNG that decodes to the right size
    imgs = p.tags("img")
    assert len(imgs) == 3
    sizes = []
    for img in imgs:
        data = base64.b64decode(img["src"].split(",", 1)[1])
        assert data.startswith(PNG_SIGNATURE)
        im = Image.open(io.BytesIO(data))
        assert (str(im.width), str(im.height)) == (img["width"], img["height"])
        sizes.append(im.size)
    assert sizes[1:] == [(6, 4), (7, 5)]
    rgb_back = np.asarray(Image.open(io.BytesIO(base64.b64decode(imgs[2]["src"].split(",", 1)[1]))))
    assert tuple(rgb_back[2, 3]) == (255, 0, 0)
    # no script, no stylesheet link, no url() in CSS
    assert not p.tags("script") and not p.tags("link")
    assert "url(" not in html and "@import" not in html
    # escaping: the title's < > never become tags
    assert "Run &lt;report&gt;" in html and "<report>" not in html
    assert "Key numbers &amp; stages." in html


def test_table_cells_formatting():
    html = _full_page().render()
    assert '<td class="num">0.812</td>' in html  # 3 decimals, the page's one number format
    assert '<td class="num">40</td>' in html
    assert '<td class="num">\u2014</td>' in html  # NaN shown as a dash, not "nan"
    second = html[html.index("Second"):]
    second = second[:second.index("</table>")]
    assert "nan" not in second.lower()
    page = ReportPage("t")
    with pytest.raises(ValueError, match="row 0 has 2 cells, expected 3"):
        page.add_table([[1, 2]], columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="columns must be given"):
        page.add_table([[1, 2]])


def test_stage_table_failed_stage_shows_message_and_banner():
    html = _full_page().render()
    row = re.search(r'<tr class="failed">(.*?)</tr>', html).group(1)
    assert "pretrain" in row and "RuntimeError: loss is NaN at step 7" in row and "12.0" in row
    assert "1 of 3 stages failed: pretrain" in html
    assert '<td class="num">13.2</td>' in html  # total 1.25 + 12.0 (+ skipped: 0)
    page = ReportPage("t")
    page.add_stage_status("x", 1.0, "failed", "")
    assert "failed without an error message" in page.render()
    with pytest.raises(ValueError, match="status"):
        page.add_stage_status("x", 1.0, "broken")
    with pytest.raises(ValueError, match="non-negative"):
        page.add_stage_status("x", -1.0, "ok")


def test_stage_table_collects_stages_added_later():
    page = ReportPage("t")
    page.add_section("Stages")
    page.add_stage_status("a", 1.0, "ok")
    page.add_section("Other")
    page.add_paragraph("between")
    page.add_stage_status("b", 2.0, "ok")
    html = page.render()
    assert html.count("<table") == 1
    stages_part = html[html.index('id="stages"'):html.index("between")]
    assert "<td>a</td>" in stages_part and "<td>b</td>" in stages_part
    assert "All 2 stages completed." in html


def test_text_pair_chips_mark_disagreement():
    html = _full_page().render()
    pair = html[html.index('class="pair-block"'):]
    gen_card = pair[pair.index("Generated"):]
    # generated says Cardiomegaly negative while the reference says positive: one mismatch chip, not also
    # a "missed" chip for the same class (missed = a reference positive the generation never mentions)
    assert 'class="chip negative mismatch"' in gen_card
    assert 'class="chip positive mismatch"' in gen_card  # Pleural Effusion not in the reference
    assert gen_card.count("Cardiomegaly") == 1 and "missed</span>" not in gen_card.split("</div>")[0]
    assert "CE labels agree on 1 of 3 classes" in html  # Edema (negative in ref, absent in gen) agrees
    missed = ReportPage("t")
    missed.add_text_pair("Heart is enlarged.", "Lungs clear.", {"Cardiomegaly": 1}, {"Lung Opacity": 2})
    gen = missed.render().split("Generated")[1]
    assert "Cardiomegaly" in gen and 'aria-label="missed">missed' in gen  # positive, never mentioned


def test_chip_legend_once_per_section():
    page = ReportPage("t")
    page.add_section("Reports")
    for _ in range(3):
        page.add_text_pair("a", "b", {"Edema": 1}, {"Edema": 2})
    page.add_section("More")
    page.add_text_pair("a", "b", {"Edema": 1}, {"Edema": 1})
    page.add_text_pair("a", "b")  # no labels: no legend needed
    html = page.render()
    assert html.count('class="legend"') == 2
    legend = html[html.index('class="legend"'):]
    assert all(w in legend[:2000] for w in ("positive", "negative", "uncertain", "missed", "differs", "not mentioned"))


def test_numbers_have_one_format_and_no_negative_zero():
    page = ReportPage("t")
    page.add_metrics({"a": 0.25, "b": 1.0, "c": 0.01114, "d": -1e-9, "e": 0.00012})
    page.add_table([{"x": -0.0000001, "y": 0.5}, {"x": 0.25, "y": 1.0}])
    html = page.render()
    for text in ("0.250", "1.000", "0.011", "0.00012", '<td class="num">0.000</td>', '<td class="num">0.500</td>'):
        assert text in html
    assert "-0.000" not in html


def test_normalise_labels_forms():
    assert normalise_labels(["Edema", "Fracture"]) == {"Edema": 1, "Fracture": 1}
    vec = [0] * 14
    vec[1] = 1
    vec[4] = 3
    assert normalise_labels(vec) == {name: v for name, v in zip(
        normalise_labels([0] * 14), vec)}
    assert normalise_labels(vec)["Cardiomegaly"] == 1 and normalise_labels(vec)["Edema"] == 3
    assert normalise_labels({"Edema": 1.0, "Fracture": False}) == {"Edema": 1, "Fracture": 0}
    with pytest.raises(ValueError, match="14 states"):
        normalise_labels([1, 0, 1])
    with pytest.raises(ValueError, match="unknown state"):
        normalise_labels({"Edema": "maybe"})
    assert label_agreement({"A": 1, "B": 2}, {"A": 3, "C": 1}) == (2, 3)  # A agrees (U-Ones), B agrees


def test_empty_report_and_grid_errors():
    page = ReportPage("t")
    page.add_text_pair("", "Lungs clear.")
    assert "(empty report)" in page.render()
    with pytest.raises(ValueError, match="at least one"):
        page.add_image_grid([])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        page.add_image_grid([(np.full((3, 3), 2.0), "too bright")])
    with pytest.raises(ValueError, match="not a PNG"):
        page.add_figure(b"GIF89a....")


def test_write_round_trip(tmp_path):
    page = _full_page()
    out = page.write(tmp_path / "sub" / "report.html")
    assert out.is_file()
    raw = out.read_bytes()
    text = raw.decode("utf-8")  # raises if not UTF-8
    assert text == page.render()
    assert 5_000 < len(raw) < 2_000_000
    check_page(text)
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any written file, not 0600


def test_unicode_text_survives(tmp_path):
    page = ReportPage("Résumé \u2014 naïve ≥ 95 %")
    page.add_paragraph("Pleural effusion \u2248 5 mm; no pneumothorax.")
    text = page.write(tmp_path / "u.html").read_text(encoding="utf-8")
    assert "Résumé \u2014 naïve ≥ 95 %" in text and "\u2248 5 mm" in text


def test_image_grid_caption_beside_and_columns():
    page = ReportPage("t")
    img = np.zeros((8, 8), np.uint8)
    page.add_image_grid([(img, "true gaze"), (img, "predicted")], caption="\u201cHeart is enlarged.\u201d",
                        caption_position="beside")
    page.add_image_grid([(img, "a"), (img, "b"), (img, "c")], columns=2, image_width=100)
    html = page.render()
    p = check_page(html)
    figs = [a["class"] for a in p.tags("figure") if a.get("class", "").startswith("image-grid")]
    assert figs == ["image-grid beside", "image-grid"]
    styles = [a["style"] for a in p.tags("div") if a.get("class") == "grid"]
    assert styles == ["grid-template-columns: repeat(2, 220px)", "grid-template-columns: repeat(2, 100px)"]
    assert "\u201cHeart is enlarged.\u201d" in html
    with pytest.raises(ValueError, match="caption_position"):
        page.add_image_grid([(img, "a")], caption_position="above")


def test_sample_report_script_builds_a_clean_page(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "sample_report.py"
    spec = importlib.util.spec_from_file_location("sample_report", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.build(tmp_path / "sample.html", seed=0)
    p = check_page(out.read_text(encoding="utf-8"))
    assert len(p.tags("section")) == 7
    assert len(p.tags("img")) == 4 + 2 * 2 + 3 + 3  # retrieval grid, 2 sentence pairs, gaze row, 3 plots
    assert "1 of 10 stages failed: segmentation" in "".join(p.text)


def test_large_images_are_shrunk_before_embedding():
    page = ReportPage("t")
    big = np.random.default_rng(0).integers(0, 256, size=(1200, 900), dtype=np.uint8)
    page.add_image_grid([(big, "full-size X-ray")])
    page.add_image_grid([(big, "kept")], max_side=None)
    p = check_page(page.render())
    sizes = [(a["width"], a["height"]) for a in p.tags("img")]
    assert sizes == [("384", "512"), ("900", "1200")]


def test_mean_ci_cells_show_the_interval_below_the_mean():
    page = ReportPage("t")
    page.add_table([{"predictor": "model", "NSS": "0.331 [0.158, 0.504]", "IG": "-0.453 [-0.600, -0.305]", "n": "15"}])
    html = page.render()
    assert '<td class="num ci">0.331<span class="ci">[0.158, 0.504]</span></td>' in html
    assert '<td class="num ci">-0.453<span class="ci">[-0.600, -0.305]</span></td>' in html
    assert "<td>15</td>" in html  # other strings stay plain text


def test_display_names_of_result_keys():
    from cogaze.html.labels import display_name, readable

    assert display_name("chance_P@1") == "P@1 by chance"
    assert display_name("AUROC@100%") == "AUROC (100 % labels)" and display_name("F1@10%", fractions=False) == "F1"
    assert display_name("dice_micro@100%", fractions=False) == "Dice (micro, over pixels)"
    assert display_name("BLEU_4") == "BLEU-4" and display_name("ROUGE_L") == "ROUGE-L"
    assert display_name("CE_14_micro_F1") == "CE-14 micro-F1" and display_name("section_CE_micro_F1") == "section CE micro-F1"
    assert display_name("P@5") == "P@5" and display_name("some_new_key") == "some new key"
    assert list(readable({"BLEU_1": 0.5, "R@1": 0.2})) == ["BLEU-1", "R@1"]
