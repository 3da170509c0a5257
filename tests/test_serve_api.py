"""`cogaze serve`'s JSON API through FastAPI's TestClient with tiny phantom-trained models: a PNG, a MONOCHROME1
DICOM (pydicom-data's real 15-bit CR chest PA, RG1_UNCR.dcm) and a JPG give what `cogaze.api.predict` gives for
the same bytes; every bad-input class is a 4xx JSON error naming the file, and the server keeps serving."""

import base64
import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydicom.data import get_testdata_file

import cogaze.api as cg
from cogaze.data.images import read_image
from cogaze.explain.predict import report_sentences
from cogaze.serve.payload import display_image
from cogaze.serve.server import build_app
from cogaze.serve.settings import ServeSettings
from serve_helpers import jpeg_bytes, png_bytes
from test_images import write_dicom

RG1 = Path(get_testdata_file("RG1_UNCR.dcm"))
SETTINGS = ServeSettings(max_upload_mb=8, max_megapixels=8)


@pytest.fixture(scope="module")
def served(serve_runs):
    app = build_app(serve_runs["run"], serve_runs["rep"], serve_runs["data"], top_k=3, settings=SETTINGS)
    with TestClient(app) as client:
        yield client, app.state.predictor, serve_runs


def decode_uri(uri: str, kind: str = "png") -> np.ndarray:
    head, data = uri.split(",", 1)
    assert head == f"data:image/{kind};base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


def phantom_gray(runs, k: int = 0) -> np.ndarray:
    return read_image(sorted(runs["data"].rglob("*.jpg"))[k])


def post(client, name, data, **fields):
    return client.post("/api/predict", files={"file": (name, data, "application/octet-stream")}, data=fields)


def direct(predictor, data, name, **kw):
    (pred,) = cg.predict(predictor, [cg.PredictInput(data, name, **kw)])
    assert pred.status == "ok"
    return pred


def check_same_as_api(body, pred):
    assert body["report"] == pred.report and body["view"] == pred.view
    assert body["diseases"] == {k: round(v, 4) for k, v in pred.diseases.items()}
    assert len(body["diseases"]) == 14 and all(0.0 <= v <= 1.0 for v in body["diseases"].values())
    assert [s["text"] for s in body["sentences"]] == report_sentences(pred.report) == [s.text for s in pred.sentences]
    assert [c["id"] for c in body["similar_cases"]] == [c["id"] for c in pred.similar_cases]
    assert len(body["similar_cases"]) == 3 and all(c["image"].startswith("data:image/png") for c in body["similar_cases"])
    assert len(body["scanpath"]) == 10 and body["scanpath_image"].startswith("data:image/jpeg")


def check_maps(body, pred):
    shown = decode_uri(body["image"])
    for entry, sent in zip(body["sentences"], pred.sentences):
        grey = decode_uri(entry["map"])
        assert grey.shape == shown.shape and grey.max() == 255
        small = display_image((sent.map / sent.map.max() * 255).astype(np.uint8), SETTINGS.display_side)
        assert np.corrcoef(grey.ravel(), small.ravel().astype(float))[0, 1] > 0.95
        x, y = entry["peak"]
        assert 0 <= x < body["width"] and 0 <= y < body["height"]
        sy, sx = shown.shape[0] / body["height"], shown.shape[1] / body["width"]
        assert grey[int(y * sy), int(x * sx)] >= 0.6 * 255  # the ring sits on the hot spot
        assert decode_uri(entry["overlay"], "jpeg").shape == (*shown.shape, 3)


def test_png_upload_gives_what_the_api_gives(served):
    client, predictor, runs = served
    gray = phantom_gray(runs)
    data = png_bytes(gray)
    r = post(client, "chest.png", data, indication="cough and fever")
    assert r.status_code == 200, r.text
    body = r.json()
    check_same_as_api(body, direct(predictor, data, "chest.png", indication="cough and fever"))
    check_maps(body, direct(predictor, data, "chest.png", indication="cough and fever"))
    assert body["name"] == "chest.png" and (body["width"], body["height"]) == (64, 64)
    assert np.array_equal(decode_uri(body["image"]), gray)  # lossless, below the display size
    assert body["timings"]["batch_size"] == 1 and body["notes"] == []


def test_monochrome1_dicom_windowed_inverted_and_view_from_header(served):
    client, predictor, _ = served
    data = RG1.read_bytes()
    r = post(client, "RG1_UNCR.dcm", data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "PA" and (body["width"], body["height"]) == (1841, 1955)
    check_same_as_api(body, direct(predictor, data, "RG1_UNCR.dcm"))
    shown = decode_uri(body["image"])
    assert shown.shape == (512, 482)
    assert np.array_equal(shown, display_image(read_image(RG1), 512))
    raw = pydicom.dcmread(RG1).pixel_array  # MONOCHROME1: high stored values are dark on the page
    raw_small = np.asarray(Image.fromarray(raw.astype(np.float32)).resize((482, 512)))
    assert np.corrcoef(shown.ravel(), raw_small.ravel())[0, 1] < -0.9


def test_jpg_upload_with_a_view_and_history(served):
    client, predictor, runs = served
    data = jpeg_bytes(phantom_gray(runs, 1))
    r = post(client, "scan.JPG", data, view="ap", history="smoker", indication="dyspnea")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "AP"
    pred = direct(predictor, data, "scan.JPG", view="AP", history="smoker", indication="dyspnea")
    check_same_as_api(body, pred)
    check_maps(body, pred)


def _bomb_png() -> bytes:  # 16 megapixels of zeros in a 16 kB file
    buf = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buf, format="PNG")
    return buf.getvalue()


def _corrupt_png(runs) -> bytes:
    data = bytearray(png_bytes(phantom_gray(runs)))
    at = data.index(b"IDAT") + 20
    data[at:at + 8] = bytes(8)  # the chunk checksum no longer matches
    return bytes(data)


def _dicom(tmp, **elements) -> bytes:
    path = write_dicom(tmp / "x.dcm", np.zeros((4, 4), np.uint16), **elements)
    return path.read_bytes()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="GIF")
    return buf.getvalue()


BAD = {  # name -> (file name, bytes maker, status, error code)
    "empty": ("empty.png", lambda r, t: b"", 400, "empty_file"),
    "text": ("notes.txt", lambda r, t: b"not an image\n" * 20, 415, "not_an_image"),
    "pdf named png": ("scan.png", lambda r, t: b"%PDF-1.7\n" + bytes(500), 415, "not_an_image"),
    "gif": ("scan.gif", lambda r, t: _gif(), 415, "unsupported_image_type"),
    "truncated jpeg": ("cut.jpg", lambda r, t: jpeg_bytes(phantom_gray(r))[:600], 422, "undecodable"),
    "corrupt png": ("crc.png", lambda r, t: _corrupt_png(r), 422, "undecodable"),
    "broken dicom": ("broken.dcm", lambda r, t: bytes(128) + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff", 422, "undecodable"),
    "dicom without image": ("report.dcm", lambda r, t: _dicom(t, Rows=0), 422, "undecodable"),
    "over the upload limit": ("big.png", lambda r, t: bytes(8 * 2**20 + 1000), 413, "file_too_large"),
    "far over the upload limit": ("huge.png", lambda r, t: bytes(20 * 2**20), 413, "file_too_large"),
    "png bomb": ("bomb.png", lambda r, t: _bomb_png(), 413, "too_many_pixels"),
    "dicom bomb": ("bomb.dcm", lambda r, t: _dicom(t, Rows=40000, Columns=40000), 413, "too_many_pixels"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_upload_is_a_json_4xx_naming_the_file(served, tmp_path, case):
    client, _, runs = served
    name, make, status, code = BAD[case]
    r = post(client, name, make(runs, tmp_path))
    assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert r.headers["content-type"] == "application/json"
    if case != "far over the upload limit":  # refused from Content-Length, before the form is read
        assert r.json()["detail"].startswith(name + ": ")


def test_bad_fields_and_the_server_keeps_serving(served):
    client, _, runs = served
    data = png_bytes(phantom_gray(runs))
    for fields, where in (({"view": "sideways"}, "view"), ({"indication": "x" * 5000}, "indication")):
        r = post(client, "a.png", data, **fields)
        assert r.status_code == 422 and r.json()["error"] == "invalid_request" and where in r.json()["detail"]
    r = client.post("/api/predict", data={"indication": "no file"})
    assert r.status_code == 422 and r.json() == {"error": "invalid_request", "detail": "file: Field required"}
    assert client.get("/nowhere").json()["error"] == "not_found"
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["queued"] == 0 and health["predictions"] >= 4
    assert post(client, "a.png", data).status_code == 200


def test_info_health_and_openapi(served):
    client, predictor, runs = served
    info = client.get("/api/info").json()
    assert info["model"]["checkpoint"] == str(Path(runs["run"]).resolve())
    assert info["model"]["index"]["cases"] == len(predictor.index)
    assert info["server"]["max_upload_mb"] == 8 and info["versions"]["cogaze"]
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/health", "/api/info"} <= set(schema["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/predict" in docs.text and "indication" in docs.text
    page = client.get("/").text
    for html in (page, docs.text):  # self-contained: no URL leaves the server
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
        assert "cdn" not in html.lower()
    assert client.get("/redoc").status_code == 404


def test_the_command_starts_says_it_has_no_authentication_and_serves(serve_runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(cg.__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-m", "cogaze", "serve", "--checkpoint", str(serve_runs["run"]),
                             "--port", str(port), "--max-batch", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": src, "HF_HUB_OFFLINE": "1"})
    import httpx

    try:
        deadline, health = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert health and health["status"] == "ok", proc.poll()
        r = httpx.post(f"http://127.0.0.1:{port}/api/predict", timeout=60,
                       files={"file": ("RG1_UNCR.dcm", RG1.read_bytes())})
        assert r.status_code == 200 and r.json()["view"] == "PA"
        assert r.json()["report"] == "" and r.json()["similar_cases"] == []  # no report model, no index
        assert any("no report model" in n for n in r.json()["notes"])
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"no authentication of its own; it listens on http://127.0.0.1:{port}: only this machine" in out
