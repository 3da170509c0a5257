"""`cogaze serve` under load: latency and throughput at concurrency 1, 4 and 16, and what batching buys.

Usage: ``PYTHONPATH=src python benchmarks/serve.py [--demo demo_out] [--work DIR] [--requests 200] [--rounds 4]
[--threads 1] [--screenshot docs/images/serve.png]``.

Starts ``cogaze serve`` on 127.0.0.1 (subprocesses, as a user would) with the demo's models (``DEMO/pretrain``,
``DEMO/report_generation``, similar cases from ``DEMO/phantom``) or, when that folder is absent, with small
phantom-trained runs it builds once in ``--work`` (reused on the next call): one server as configured and one
with batching off (``--max-batch 1``). Sends ``--requests`` uploads of phantom images (PNG) per level, in
interleaved rounds (so that load from other jobs on the machine hits every level alike), and prints per
level p50/p95 latency, throughput (and per round), errors, the mean batch the server ran and how busy its
model thread was (the sum of each answer's share of its batch's model time / wall time: near 100 % the
model is the bottleneck, well below it the HTTP, JSON and image-encoding work or the clients are).
Optionally saves a screenshot of the page with a result (headless Chromium). Last line: ``RESULT ...``.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def build_runs(work: Path) -> dict[str, Path]:
    """Phantom data (60 patients, 128 px), a tokenizer, a phantom-scratch pretraining run and a tiny report run."""
    from cogaze.cli import main
    from cogaze.data.phantom.generate import generate_phantom
    from cogaze.resources import config_path

    data, tok, run, rep = work / "phantom", work / "tokenizer", work / "pretrain", work / "report_generation"
    if (rep / "model.safetensors").is_file():
        return {"data": data, "run": run, "rep": rep}
    t0 = time.perf_counter()
    generate_phantom(data, n_patients=60, image_size=128, seed=0)
    steps = [["tokenizer", "train", str(data), "--out", str(tok), "--vocab-size", "600"],
             ["pretrain", "--config", str(config_path("pretrain/phantom-scratch.yaml")), "--data", str(data),
              "--run-dir", str(run), f"model.tokenizer={tok}", "trainer.max_epochs=4", "-q"],
             ["train-report", "--checkpoint", str(run), "--data", str(data), "--config",
              str(config_path("report/phantom-tiny.yaml")), "--run-dir", str(rep), "train.epochs=24", "-q"]]
    for argv in steps:
        print(f"building: cogaze {argv[0]} ...", flush=True)
        if main(argv) != 0:
            raise SystemExit(f"cogaze {' '.join(argv)} failed")
    print(f"built the runs in {time.perf_counter() - t0:.0f} s -> {work}", flush=True)
    return {"data": data, "run": run, "rep": rep}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: dict[str, Path], port: int, extra: list[str], threads: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cogaze", "serve", "--checkpoint", str(runs["run"]), "--report-model",
           str(runs["rep"]), "--index", str(runs["data"]), "--port", str(port), "--max-queue", "256", *extra,
           *(["--torch-threads", str(threads)] if threads > 0 else [])]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}):\n{proc.stdout.read()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not answer /api/health within 300 s")


def stop_server(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def uploads(data: Path, n: int) -> list[tuple[str, bytes]]:
    from cogaze.data.images import read_image

    files = sorted(data.rglob("*.jpg"))[:n]
    out = []
    for f in files:
        buf = io.BytesIO()
        Image.fromarray(read_image(f)).save(buf, format="PNG")
        out.append((f.stem + ".png", buf.getvalue()))
    return out


def load(url: str, files: list[tuple[str, bytes]], requests: int, concurrency: int) -> dict[str, Any]:
    """Send ``requests`` uploads with ``concurrency`` clients: latencies, statuses, wall time, and per answer the
    batch it ran in and its share of the model thread's time (batch model seconds / batch size)."""
    clients: dict[int, httpx.Client] = {}

    def one(i: int) -> tuple[float, int, int, float]:
        key = threading.get_ident()
        if key not in clients:  # one connection per client thread
            clients[key] = httpx.Client(timeout=300)
        name, data = files[i % len(files)]
        t0 = time.perf_counter()
        try:
            r = clients[key].post(url, files={"file": (name, data, "image/png")}, data={"indication": "dyspnea"})
        except httpx.HTTPError:
            return time.perf_counter() - t0, 599, 0, 0.0
        if r.status_code != 200:
            return time.perf_counter() - t0, r.status_code, 0, 0.0
        t = r.json()["timings"]
        return time.perf_counter() - t0, 200, t["batch_size"], t["model"] / t["batch_size"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    for c in clients.values():
        c.close()
    return {"results": results, "wall": wall}


def summary(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Latency percentiles, throughput, errors, mean batch and model-thread busy fraction over rounds."""
    results = [r for s in samples for r in s["results"]]
    wall = sum(s["wall"] for s in samples)
    lat = sorted(r[0] for r in results)
    ok = [r for r in results if r[1] == 200]
    return {"p50": statistics.median(lat), "p95": float(np.percentile(lat, 95)), "rps": len(ok) / wall,
            "errors": len(results) - len(ok), "batch": statistics.mean(r[2] for r in ok) if ok else 0.0,
            "busy": sum(r[3] for r in ok) / wall,
            "round_rps": [sum(r[1] == 200 for r in s["results"]) / s["wall"] for s in samples]}


def screenshot(url: str, image: Path, out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,900",
                "--hide-scrollbars"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=opts)
    try:
        driver.get(url + "/")
        driver.find_element(By.ID, "file-input").send_keys(str(image))
        driver.find_element(By.ID, "indication").send_keys("Shortness of breath. Rule out effusion.")
        driver.find_element(By.ID, "run").click()
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#report li.sentence"))
        sentences = driver.find_elements(By.CSS_SELECTOR, "#report li.sentence")
        sentences[min(1, len(sentences) - 1)].click()
        time.sleep(0.3)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {  # the whole page, beyond the window
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1360, "height": height, "scale": 1}})
        out.parent.mkdir(parents=True, exist_ok=True)
        png = base64.b64decode(shot["data"])
        Image.open(io.BytesIO(png)).convert("RGB").save(out, optimize=True)
        print(f"screenshot -> {out}")
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default="demo_out", help="Output folder of `cogaze demo` (its models are used).")
    ap.add_argument("--work", default=None, help="Where to build (and reuse) runs when --demo is absent.")
    ap.add_argument("--requests", type=int, default=200, help="Requests per concurrency level (over all rounds).")
    ap.add_argument("--rounds", type=int, default=4,
                    help="Levels are measured in interleaved rounds, so that load from other jobs hits them alike.")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server (0: torch's default).")
    ap.add_argument("--screenshot", default=None, help="Save a PNG of the page with a result here.")
    args = ap.parse_args()
    demo = Path(args.demo)
    if (demo / "pretrain").is_dir() and (demo / "report_generation").is_dir():
        runs, source = {"data": demo / "phantom", "run": demo / "pretrain", "rep": demo / "report_generation"}, \
            f"the demo's ({demo})"
    else:
        work = Path(args.work or Path(tempfile.gettempdir()) / "cogaze-serve-bench")
        runs, source = build_runs(work), f"built in {work}"
    files = uploads(runs["data"], 24)
    levels = [int(c) for c in args.concurrency.split(",")]
    top = max(levels)
    configs = [("batched", c) for c in levels] + [("unbatched", top)]
    print(f"models: {source}; {len(files)} phantom images as PNG; {args.requests} requests per level in "
          f"{args.rounds} interleaved rounds; server torch threads {args.threads or 'default'}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} before the run", flush=True)
    procs, urls = {}, {}
    try:
        for label, extra in (("batched", []), ("unbatched", ["--max-batch", "1"])):
            port = free_port()
            procs[label] = start_server(runs, port, extra, args.threads)
            urls[label] = f"http://127.0.0.1:{port}/api/predict"
            load(urls[label], files, 8, 4)  # warm-up
        samples: dict[tuple[str, int], list[dict[str, Any]]] = {k: [] for k in configs}
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for label, c in configs:
                samples[(label, c)].append(load(urls[label], files, per_round, c))
        rows = {k: summary(v) for k, v in samples.items()}
        for (label, c), r in rows.items():
            print(f"{label:>9} concurrency {c:>2}: p50 {r['p50'] * 1000:6.0f} ms  p95 {r['p95'] * 1000:6.0f} ms  "
                  f"{r['rps']:6.2f} req/s (rounds {', '.join(f'{x:.1f}' for x in r['round_rps'])})  "
                  f"errors {r['errors']}  mean batch {r['batch']:4.1f}  model thread busy {r['busy']:4.0%}")
        if args.screenshot:
            tmp = Path(tempfile.mkdtemp()) / "chest.png"
            tmp.write_bytes(files[0][1])
            screenshot(urls["batched"].rsplit("/api/", 1)[0], tmp, Path(args.screenshot))
    finally:
        logs = {k: stop_server(p) for k, p in procs.items()}
    if any("no authentication" not in log for log in logs.values()):
        print("warning: a server did not print its no-authentication notice", file=sys.stderr)
    lo, hi, flat = rows[("batched", min(levels))], rows[("batched", top)], rows[("unbatched", top)]
    ratios = [h / max(x, 1e-9) for h, x in zip(hi["round_rps"], lo["round_rps"])]
    errors = sum(r["errors"] for r in rows.values())
    print(f"concurrency {top} / {min(levels)} throughput per round: {', '.join(f'{x:.2f}' for x in ratios)}")
    print(f"load average after the run: {os.getloadavg()[0]:.1f} (other jobs on the machine lower every figure)")
    print(f"RESULT c{min(levels)}_rps={lo['rps']:.2f} c{top}_rps={hi['rps']:.2f} speedup={hi['rps'] / lo['rps']:.2f} "
          f"speedup_rounds_median={statistics.median(ratios):.2f} unbatched_c{top}_rps={flat['rps']:.2f} "
          f"c{top}_p95_ms={hi['p95'] * 1000:.0f} errors={errors}")


if __name__ == "__main__":
    main()
