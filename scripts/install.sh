#!/usr/bin/env bash
# Install cogaze and its dependencies on a fresh machine (CPU). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Pin torch first: an unpinned torch would pull a multi-GB CUDA build.
if ! $PY -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  $PY -m pip install -q "torch==2.13.0"
fi
# the dev extra includes pydicom-data (real DICOM files the tests read); serve: `cogaze serve` (FastAPI, uvicorn)
$PY -m pip install -q -e ".[dev,eval,llm,radmetrics,serve]"
# RaTEScore's sentence splitter (medspacy) without its spaCy < 3.8 / numpy < 2 pins: medspacy and its
# PyRuSH / QuickUMLS parts with --no-deps, their small pure dependencies normally.
if ! $PY -c "import medspacy" 2>/dev/null; then
  $PY -m pip install -q loguru six unidecode PyFastNER quicksectx pysimstring medspacy_unqlite jsonschema "pysbd==0.3.4"
  $PY -m pip install -q --no-deps "medspacy==1.3.1" "PyRuSH==1.0.13" "medspacy_quickumls==3.2"
fi
# radgraph and medspacy_quickumls ship their own test files as a top-level `tests` package in
# site-packages, which would shadow this repository's tests/ package: remove that stray folder.
$PY - <<'PYEOF'
import pathlib, shutil, sysconfig
stray = pathlib.Path(sysconfig.get_paths()["purelib"]) / "tests"
marks = ("radgraph_test.py", "test_quickumls_component.py", "skiptest_spangroup1.py")
if stray.is_dir() and any((stray / m).exists() for m in marks):
    shutil.rmtree(stray)
PYEOF
# METEOR (pycocoevalcap) needs a Java runtime.
if ! command -v java >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq default-jre-headless) || echo "warning: could not install Java; METEOR will be unavailable" >&2
  else
    echo "warning: java not found; install a JRE (e.g. apt-get install default-jre-headless) for METEOR" >&2
  fi
fi
# The browser test of `cogaze serve` (tests/test_serve_browser.py) drives headless Chromium via selenium.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || echo "warning: could not install Chromium; the browser test of cogaze serve will be skipped" >&2
  else
    echo "warning: chromium/chromedriver not found; install them (e.g. apt-get install chromium chromium-driver) for the browser test of cogaze serve" >&2
  fi
fi
