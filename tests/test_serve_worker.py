"""The model thread of `cogaze serve`: requests that wait together run as one batch, a lone request is not
delayed, a failing request does not fail its batch, a full queue is a 503 with Retry-After, and an upload
leaves no file behind. A fake model (no weights) keeps these fast."""

import io
import os
import tempfile
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cogaze.api.predict import Prediction, SentenceMap
from cogaze.serve.app import create_app
from cogaze.serve.server import no_auth_warning
from cogaze.serve.settings import ServeSettings
from cogaze.serve.uploads import check_upload, display_name
from cogaze.serve.worker import BatchWorker, QueueFull
from serve_helpers import png_bytes


class Gate:
    """A fake model that records its batches and can be held shut."""

    def __init__(self, fail_on=()):
        self.open = threading.Event()
        self.open.set()
        self.batches: list[list] = []
        self.entered = threading.Event()
        self.fail_on = set(fail_on)

    def __call__(self, items):
        self.batches.append(list(items))
        self.entered.set()
        assert self.open.wait(10)
        if self.fail_on & set(items):
            raise RuntimeError("poisoned")
        return [f"done {x}" for x in items]


def test_waiting_requests_run_as_one_batch():
    gate = Gate()
    worker = BatchWorker(gate, max_queue=32, max_batch=4, max_wait_s=0.05)
    worker.start()
    gate.open.clear()
    first = worker.submit("a")
    assert gate.entered.wait(5)
    rest = [worker.submit(x) for x in "bcdefg"]  # arrive while "a" runs
    assert worker.queued == 6
    gate.open.set()
    results = [f.result(10) for f in (first, *rest)]
    worker.stop()
    assert [r for r, _ in results] == [f"done {x}" for x in "abcdefg"]
    assert gate.batches == [["a"], ["b", "c", "d", "e"], ["f", "g"]]  # max_batch 4
    assert [info.batch_size for _, info in results] == [1, 4, 4, 4, 4, 2, 2]
    assert worker.batches == 3 and worker.processed == 7


def test_a_lone_request_is_not_delayed_by_the_batch_wait():
    worker = BatchWorker(Gate(), max_wait_s=5.0)
    worker.start()
    t0 = time.perf_counter()
    assert worker.submit("x").result(10)[0] == "done x"
    assert time.perf_counter() - t0 < 1.0
    worker.stop()


def test_a_failing_request_does_not_fail_its_batch():
    gate = Gate(fail_on={"bad"})
    worker = BatchWorker(gate, max_batch=8)
    worker.start()
    gate.open.clear()
    first = worker.submit("a")
    assert gate.entered.wait(5)
    futures = [worker.submit(x) for x in ("b", "bad", "c")]
    gate.open.set()
    assert first.result(10)[0] == "done a"
    assert futures[0].result(10)[0] == "done b" and futures[2].result(10)[0] == "done c"
    with pytest.raises(RuntimeError, match="poisoned"):
        futures[1].result(10)
    assert gate.batches[1] == ["b", "bad", "c"] and ["bad"] in gate.batches[2:]
    worker.stop()


def test_full_queue_raises_with_a_retry_estimate_and_stop_fails_the_rest():
    gate = Gate()
    worker = BatchWorker(gate, max_queue=2, max_batch=1)
    worker.start()
    gate.open.clear()
    worker.submit("a")
    assert gate.entered.wait(5)
    waiting = [worker.submit("b"), worker.submit("c")]
    with pytest.raises(QueueFull) as err:
        worker.submit("d")
    assert err.value.queued == 2 and 1 <= err.value.retry_after <= 120
    gate.open.set()
    worker.stop()
    assert [f.result(10)[0] for f in waiting] == ["done b", "done c"]


def fake_predictions(items):
    out = []
    for it in items:
        img = np.asarray(Image.open(io.BytesIO(it.source)).convert("L"))
        m = np.ones(img.shape, np.float32) / img.size
        out.append(Prediction(it.name, "ok", "UNKNOWN", "Normal.", [SentenceMap("Normal.", [], (1.0, 1.0), m)], m,
                              [(1.0, 1.0, 0.2)], {"Cardiomegaly": 0.25}, [], {"encoder": 0.0}, img))
    return out


def test_queue_full_is_503_with_retry_after():
    release, entered = threading.Event(), threading.Event()

    def slow(items):
        entered.set()
        assert release.wait(20)
        return fake_predictions(items)

    app = create_app(slow, {}, ServeSettings(max_queue=1, max_batch=1))
    worker = app.state.worker
    data = png_bytes(np.zeros((8, 8), np.uint8))
    with TestClient(app) as client:
        codes = []

        def send():
            codes.append(client.post("/api/predict", files={"file": ("a.png", data)}).status_code)

        running, waiting = threading.Thread(target=send), threading.Thread(target=send)
        running.start()
        assert entered.wait(10)  # the model holds the first request ...
        waiting.start()
        deadline = time.time() + 10
        while worker.queued < 1 and time.time() < deadline:
            time.sleep(0.01)
        assert worker.queued == 1  # ... the second fills the queue ...
        r = client.post("/api/predict", files={"file": ("c.png", data)})  # ... the third is turned away
        assert r.status_code == 503 and r.json()["error"] == "busy"
        assert int(r.headers["Retry-After"]) >= 1
        release.set()
        for t in (running, waiting):
            t.join(20)
        assert codes == [200, 200]
        assert client.post("/api/predict", files={"file": ("d.png", data)}).status_code == 200


def test_a_model_failure_is_a_500_and_the_server_keeps_serving():
    calls = []

    def flaky(items):
        calls.append(len(items))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return fake_predictions(items)

    with TestClient(create_app(flaky)) as client:
        data = png_bytes(np.zeros((8, 8), np.uint8))
        r = client.post("/api/predict", files={"file": ("a.png", data)})
        assert r.status_code == 500 and r.json()["error"] == "prediction_failed" and "out of memory" in r.json()["detail"]
        assert client.post("/api/predict", files={"file": ("a.png", data)}).status_code == 200


def test_an_upload_leaves_no_file_behind(tmp_path, monkeypatch):
    """A 3 MB upload spills out of memory into a temporary file; after the request nothing is left, in the
    temporary folder or the working directory."""
    temp, work = tmp_path / "tmp", tmp_path / "work"
    temp.mkdir()
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(work)
    noise = np.random.default_rng(0).integers(0, 256, (1800, 1800), dtype=np.uint8)
    data = png_bytes(noise)
    assert len(data) > 3 * 2**20
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k))
    with TestClient(create_app(fake_predictions)) as client:
        r = client.post("/api/predict", files={"file": ("noise.png", data)})
    assert r.status_code == 200, r.text
    assert any(p.startswith(str(temp)) for p in opened)  # it did spill into the temporary folder ...
    assert list(temp.iterdir()) == [] and list(work.iterdir()) == []  # ... and nothing is left


def test_upload_checks_without_the_app():
    data = png_bytes(np.zeros((30, 40), np.uint8))
    ok = check_upload(data, "../../etc/x.png", 2**20, 10_000)
    assert (ok.kind, ok.width, ok.height, ok.name) == ("png", 40, 30, "x.png")
    with pytest.raises(Exception) as err:
        check_upload(data, "x.png", 2**20, 1199)  # 1200 pixels
    assert (err.value.status, err.value.code) == (413, "too_many_pixels")
    assert display_name("C:\\scans\\a.dcm") == "a.dcm" and display_name("") == "upload"


def test_settings_and_the_no_authentication_notice():
    with pytest.raises(Exception, match="max_batch=0"):
        ServeSettings(max_batch=0)
    assert "only this machine" in no_auth_warning("127.0.0.1", 8000)
    loud = no_auth_warning("0.0.0.0", 8000)
    assert "no authentication" in loud and "ANY machine" in loud and "reverse proxy" in loud


def test_a_body_without_content_length_is_cut_off_at_the_limit():
    """A chunked upload (no Content-Length) over --max-upload-mb is refused (the test client buffers the body, so
    this checks the count and the answer, not how early a real connection stops being read)."""

    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n"
        for _ in range(64):  # 64 MB offered, 1 MB allowed
            yield bytes(2**20)
        yield b"\r\n--b--\r\n"

    with TestClient(create_app(fake_predictions, settings=ServeSettings(max_upload_mb=1))) as client:
        r = client.post("/api/predict", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413 and r.json()["error"] == "file_too_large" and "1 MB" in r.json()["detail"]
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert client.get("/api/health").json()["status"] == "ok"
