"""`cogaze predict` and cogaze.api.predict on a folder mixing PNG, JPG, MONOCHROME1 / MONOCHROME2 DICOM, a real
15-bit CR chest PA (pydicom-data's RG1_UNCR.dcm) and a corrupt file, with one tiny pretraining run and one tiny
report run trained on a phantom."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from pydicom.data import get_testdata_file

import cogaze.api as cg
from cogaze.api.predict import NO_REPORT_MODEL
from cogaze.cli import main
from cogaze.data.images import read_image
from cogaze.data.phantom.generate import generate_phantom
from cogaze.data.records import CHEXPERT_CLASSES
from cogaze.explain.predict import report_sentences
from cogaze.tasks.report_generation.baselines import nearest_training_index
from cogaze.tasks.similar_cases import SimilarCaseIndex
from test_images import write_dicom
from tiny_models import TINY

FILES = ["cxr/a.jpg", "cxr/b.jpg", "cxr/bad.jpg", "cxr/c.png", "cxr/rg1_uncr.dcm", "cxr/sub/m1.dcm", "cxr/sub/m2.dcm"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = root / "ph"
    generate_phantom(data, n_patients=12, image_size=64, seed=0)
    tok = root / "tok"
    assert main(["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "300"]) == 0
    run, rep = root / "run", root / "rep"
    assert main(["pretrain", "--config", "configs/pretrain/phantom-scratch.yaml", "--data", str(data),
                 "--run-dir", str(run), f"model.tokenizer={tok}", *TINY]) == 0
    assert main(["train-report", "--checkpoint", str(run), "--data", str(data), "--config",
                 "configs/report/phantom-tiny.yaml", "--run-dir", str(rep), "train.epochs=1",
                 "decoder.num_beams=1", "decoder.max_new_tokens=8"]) == 0
    # the mixed folder: phantom JPGs, a PNG, a MONOCHROME1 / MONOCHROME2 twin pair, the real 15-bit CR, junk
    folder = root / "cxr"
    (folder / "sub").mkdir(parents=True)
    jpgs = sorted(data.rglob("*.jpg"))
    shutil.copy(jpgs[0], folder / "a.jpg")
    shutil.copy(jpgs[1], folder / "b.jpg")
    gray = read_image(jpgs[2])
    gray[0, 0], gray[0, 1] = 0, 255  # full range: the DICOM min-max scaling is then the identity
    Image.fromarray(gray).save(folder / "c.png")
    write_dicom(folder / "sub" / "m2.dcm", gray, bits_stored=8, ViewPosition="AP")
    write_dicom(folder / "sub" / "m1.dcm", 255 - gray.astype(np.uint16), "MONOCHROME1", bits_stored=8,
                ViewPosition="AP")
    shutil.copy(get_testdata_file("RG1_UNCR.dcm"), folder / "rg1_uncr.dcm")
    (folder / "bad.jpg").write_bytes(jpgs[3].read_bytes()[:40])  # a truncated JPEG header
    (folder / "notes.txt").write_text("not an image")
    return {"root": root, "data": data, "run": run, "rep": rep, "folder": folder, "gray": gray}


@pytest.fixture(scope="module")
def predictor(runs):
    return cg.load_predictor(runs["run"], report_model=runs["rep"], index=runs["data"], top_k=3, fixations=6)


@pytest.fixture(scope="module")
def preds(runs, predictor):
    inputs = cg.collect_inputs([runs["folder"]])
    return {p.name: p for p in cg.predict(predictor, inputs, batch_size=16)}


def test_one_row_per_file_and_every_readable_image_complete(runs, predictor, preds):
    assert sorted(preds) == FILES  # notes.txt is no image; the corrupt JPEG is still a row
    bad = preds["cxr/bad.jpg"]
    assert bad.status.startswith("corrupt or unreadable image") and not bad.diseases and bad.text_free_map is None
    encoder = predictor.encoder
    for name, p in preds.items():
        if name == "cxr/bad.jpg":
            continue
        assert p.status == "ok", (name, p.status)
        h, w = p.image.shape
        assert list(p.diseases) == list(CHEXPERT_CLASSES)
        assert all(0.0 <= v <= 1.0 for v in p.diseases.values())
        assert p.report and [s.text for s in p.sentences] == report_sentences(p.report)
        for m in [p.text_free_map, *(s.map for s in p.sentences)]:
            assert m.shape == (h, w) and m.dtype == np.float32 and m.sum() == pytest.approx(1.0, abs=1e-4)
        assert len(p.scanpath) == 6 and all(0 <= x <= w and 0 <= y <= h and d > 0 for x, y, d in p.scanpath)
        assert len(p.similar_cases) == 3
        scores = [c["score"] for c in p.similar_cases]
        assert scores == sorted(scores, reverse=True) and all(c["report"] for c in p.similar_cases)
        assert set(p.timings) == {"decode", "encoder", "report", "maps", "similar"}
    assert {n: preds[n].view for n in ("cxr/a.jpg", "cxr/c.png", "cxr/sub/m1.dcm", "cxr/rg1_uncr.dcm")} == {
        "cxr/a.jpg": "UNKNOWN", "cxr/c.png": "UNKNOWN", "cxr/sub/m1.dcm": "AP", "cxr/rg1_uncr.dcm": "PA"}
    # the probabilities are the vision disease head on the image, computed here directly
    p = preds["cxr/a.jpg"]
    pixels = torch.from_numpy(encoder.geometry.transform_image(read_image(runs["folder"] / "a.jpg")))[None]
    feats = encoder.encode_images(pixels, ["UNKNOWN"])
    np.testing.assert_allclose(list(p.diseases.values()), torch.sigmoid(feats.logits[0]).numpy(), atol=1e-6)
    # the similar cases are the train images ranked by cosine of the pooled vision latents
    index = predictor.index
    cos = torch.nn.functional.normalize(feats.pooled, dim=-1) @ index.embeddings.T
    best = torch.argsort(cos[0], descending=True)[:3].tolist()
    assert [c["id"] for c in p.similar_cases] == [index.ids[i] for i in best]
    assert p.similar_cases[0]["score"] == pytest.approx(float(cos[0, best[0]]), abs=1e-5)


def test_monochrome1_is_inverted_like_its_monochrome2_twin(runs, preds):
    m1, m2, png = preds["cxr/sub/m1.dcm"], preds["cxr/sub/m2.dcm"], preds["cxr/c.png"]
    assert np.array_equal(m1.image, runs["gray"]) and np.array_equal(m2.image, runs["gray"])
    # same pixels, same view: equal up to the float rounding of different rows of one batch
    np.testing.assert_allclose(list(m1.diseases.values()), list(m2.diseases.values()), atol=1e-6)
    assert m1.report == m2.report
    np.testing.assert_allclose(m1.text_free_map, m2.text_free_map, atol=1e-7)
    assert np.array_equal(png.image, runs["gray"])
    # the real CR chest PA (MONOCHROME1, 15 bits): displayed with bright mediastinum, darker lungs
    img = preds["cxr/rg1_uncr.dcm"].image
    assert img.shape == (1955, 1841)
    h, w = img.shape
    band = img[int(h * 0.3):int(h * 0.6)].astype(float)
    centre = band[:, int(w * 0.45):int(w * 0.55)].mean()
    assert centre > band[:, int(w * 0.2):int(w * 0.35)].mean() + 40
    assert centre > band[:, int(w * 0.65):int(w * 0.8)].mean() + 40


def test_batch_1_equals_batch_16(runs, predictor, preds):
    inputs = cg.collect_inputs([runs["folder"]])
    for p in cg.predict(predictor, inputs, batch_size=1):
        q = preds[p.name]
        assert (p.status, p.view, p.report) == (q.status, q.view, q.report)
        if not p.ok:
            continue
        np.testing.assert_allclose(list(p.diseases.values()), list(q.diseases.values()), atol=1e-5)
        np.testing.assert_allclose(p.text_free_map, q.text_free_map, atol=1e-6)
        assert [c["id"] for c in p.similar_cases] == [c["id"] for c in q.similar_cases]
        assert np.allclose(p.scanpath, q.scanpath)


def test_uploads_no_report_model_and_bad_inputs(runs, predictor, preds):
    bare = cg.load_predictor(predictor.encoder)  # no report model, no index
    folder = runs["folder"]
    inputs = [cg.PredictInput((folder / "sub" / "m1.dcm").read_bytes(), "upload.dcm"),
              cg.PredictInput(b"", "empty.png"),
              cg.PredictInput(folder / "c.png", "c.png", view="sideways"),
              cg.PredictInput(folder / "missing.png", "missing.png")]
    out = cg.predict(bare, inputs)
    assert [p.name for p in out] == ["upload.dcm", "empty.png", "c.png", "missing.png"]
    up = out[0]
    assert up.ok and up.view == "AP" and up.report == "" and up.sentences == [] and up.similar_cases == []
    assert NO_REPORT_MODEL in up.notes
    np.testing.assert_allclose(list(up.diseases.values()), list(preds["cxr/sub/m1.dcm"].diseases.values()), atol=1e-6)
    np.testing.assert_allclose(up.text_free_map, preds["cxr/sub/m1.dcm"].text_free_map, atol=1e-7)
    assert out[1].status == "empty file" and out[3].status == "image file not found"
    assert "unknown view position 'sideways'" in out[2].status
    files = cg.write_predictions(out, runs["root"] / "bare")
    rows = list(csv.DictReader((runs["root"] / "bare" / "predictions.csv").open()))
    assert [r["status"] == "ok" for r in rows] == [True, False, False, False]
    assert rows[0]["report"] == "" and NO_REPORT_MODEL in rows[0]["notes"] and rows[0]["outputs"] == "upload"
    payload = json.loads((runs["root"] / "bare" / "upload" / "explanation.json").read_text())
    assert len(payload["maps"]) == 1 and payload["maps"][0]["text"] is None and payload["report"] == ""
    assert all(f.is_file() for f in files)


def test_cli_writes_csv_and_outputs(runs, predictor, preds):
    out = runs["root"] / "out"
    table = runs["root"] / "ctx.csv"
    table.write_text("image,indication,history\nc.png,Cough.,Smoker.\n")
    args = ["predict", str(runs["folder"]), "--checkpoint", str(runs["run"]), "--report-model", str(runs["rep"]),
            "--indication-csv", str(table), "--top-k", "3", "--fixations", "6", "--batch-size", "3", "-q"]
    assert main([*args, "--index", str(runs["data"]), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [r["image"] for r in rows] == FILES
    assert list(rows[0]) == ["image", "status", "view", "report", *(f"p_{c}" for c in CHEXPERT_CLASSES),
                             "similar_cases", "notes", "outputs"]
    for r in rows:
        p = preds[r["image"]]
        if not p.ok:
            assert r["status"] == p.status and r["p_Edema"] == "" and r["outputs"] == ""
            continue
        assert r["status"] == "ok" and r["view"] == p.view and r["report"] == p.report
        if r["image"] != "cxr/c.png":  # the indication table gives c.png a context: its latents differ
            assert [float(r[f"p_{c}"]) for c in CHEXPERT_CLASSES] == pytest.approx(list(p.diseases.values()),
                                                                                  abs=2e-6)
        assert [c["id"] for c in json.loads(r["similar_cases"])] == [c["id"] for c in p.similar_cases] \
            or r["image"] == "cxr/c.png"
        payload = json.loads((out / r["outputs"] / "explanation.json").read_text())
        assert len(payload["maps"]) == 1 + len(p.sentences) and payload["report"] == p.report
        assert all((out / r["outputs"] / f).is_file() for f in payload["files"])
    c_png = json.loads((out / "cxr_c" / "explanation.json").read_text())
    assert (c_png["indication"], c_png["history"]) == ("Cough.", "Smoker.")
    # the index built from the folder was saved: the same cases and embeddings as the API built
    saved = SimilarCaseIndex.load(out / "similar_cases_index.json")
    assert saved.ids == predictor.index.ids and saved.reports == predictor.index.reports
    torch.testing.assert_close(saved.embeddings, predictor.index.embeddings, atol=1e-6, rtol=0)
    assert cg.load_predictor(predictor.encoder, index=out / "similar_cases_index.json").index.ids == saved.ids


def test_similar_case_index_round_trip_and_empty_bank(tmp_path):
    index = SimilarCaseIndex(["a", "b", "c"], ["p1", "p2", "p1"], ["ra", "rb", "rc"], [None, "b.png", None],
                             torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]]))
    loaded = SimilarCaseIndex.load(index.save(tmp_path / "idx")[1])
    assert loaded.ids == index.ids and torch.equal(loaded.embeddings, index.embeddings)
    q = torch.tensor([[1.0, 1.0]])
    assert [c["id"] for c in loaded.query(q, 3)[0]] == ["b", "a", "c"]  # cos 0.99, 0.707, 0.707 (ties: index order)
    assert [c["id"] for c in loaded.query(q, 3, subjects=["p2"])[0]] == ["a", "c"]
    assert loaded.query(q, 1)[0][0]["score"] == pytest.approx(1.4 / 2**0.5, abs=1e-6)
    assert nearest_training_index(q, ["x"], torch.zeros(0, 2), []) == [None]


def test_report_model_loads_without_training_items(runs, predictor):
    gen = cg.load_report_model(runs["rep"], predictor.encoder, [])
    assert len(gen.train_bank) == 0 and gen.train_bank.latents.shape[-1] == predictor.encoder.embed_dim


def test_llm_reporter_draws_its_similar_case_from_the_index(runs, predictor, tmp_path, monkeypatch):
    """An LLM report run (tiny random Llama): with an index, the prompt's similar report is the index's top
    case, the same one the prediction lists first; without one the prompt states that none is available."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import cogaze.tasks.report_generation.train as rg
    from report_fixtures import tiny_tokenizer

    lm = tmp_path / "llama"
    tok = tiny_tokenizer()
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=tok.convert_tokens_to_ids("<|begin_of_text|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|eot_id|>"), pad_token_id=tok.pad_token_id)).save_pretrained(lm)
    tok.save_pretrained(lm)
    rep = tmp_path / "llm_rep"
    assert main(["-q", "train-report", "--checkpoint", str(runs["run"]), "--data", str(runs["data"]), "--config",
                 "configs/report/mimic-llama.yaml", "--run-dir", str(rep), f"llm.lm={lm}", "train.epochs=1",
                 "train.batch_size=8", "llm.num_beams=1", "llm.max_new_tokens=6"]) == 0
    similar: list = []
    real = rg.build_prompt
    monkeypatch.setattr(rg, "build_prompt", lambda tok, cfg, n, sim, *a, **k: similar.append(sim) or real(
        tok, cfg, n, sim, *a, **k))
    inputs = [cg.PredictInput(runs["folder"] / "a.jpg", "a.jpg"), cg.PredictInput(runs["folder"] / "c.png", "c.png")]
    with_index = cg.load_predictor(predictor.encoder, report_model=rep, index=predictor.index)
    out = cg.predict(with_index, inputs)
    assert all(p.ok for p in out) and with_index.info()["report_variant"] == "llm"
    assert similar == [p.similar_cases[0]["report"] for p in out]
    similar.clear()
    out = cg.predict(cg.load_predictor(predictor.encoder, report_model=rep), inputs)  # no training items, no index
    assert all(p.ok for p in out) and similar == [None, None]
