"""cogaze's public API: everything the command line, the demo and a server do, as plain functions.

Load a pretrained encoder or report model from a run folder, load datasets, run the downstream tasks,
generate and evaluate reports, and show where a radiologist would look::

    import cogaze.api as cg

    encoder = cg.load_encoder("runs/pretrain")
    result = cg.zeroshot(encoder, cg.DataSource(dataset="rsna", split_dir="RSNA_split", image_root="rsna/"))
    print(result.table())
    cg.explain_image(encoder, "cxr.dcm", "explain_out", report="Small left effusion.")
    predictor = cg.load_predictor("runs/pretrain", report_model="runs/report", index="data/")
    for p in cg.predict(predictor, cg.collect_inputs(["new_cxrs/"])):
        print(p.name, p.status, p.report, p.diseases["Pleural Effusion"])
"""

from __future__ import annotations

from cogaze.api.downstream import finetune, retrieve, zeroshot
from cogaze.api.evaluation import (
    ReportsCsv,
    Scoring,
    compare_reports,
    evaluate_reports,
    evaluate_structured_reports,
    metric_groups,
    write_results,
)
from cogaze.api.explain import explain_image
from cogaze.api.grounding import GroundingResult, evaluate_run_grounding
from cogaze.api.loading import load_encoder, load_report_model
from cogaze.api.official import import_official
from cogaze.api.predict import PredictInput, Prediction, Predictor, SentenceMap, load_predictor, predict
from cogaze.api.predict_files import collect_inputs, predict_paths, predict_to_folder, write_predictions
from cogaze.api.reports import generate, report_items, train_report
from cogaze.api.sources import DataSource
from cogaze.data.dataset import load_dataset
from cogaze.data.downstream import SideTables, get_dataset, load_downstream
from cogaze.data.images import read_image

__all__ = [
    "DataSource",
    "GroundingResult",
    "PredictInput",
    "Prediction",
    "Predictor",
    "ReportsCsv",
    "Scoring",
    "SentenceMap",
    "SideTables",
    "collect_inputs",
    "compare_reports",
    "evaluate_reports",
    "evaluate_run_grounding",
    "evaluate_structured_reports",
    "explain_image",
    "finetune",
    "generate",
    "get_dataset",
    "import_official",
    "load_dataset",
    "load_downstream",
    "load_encoder",
    "load_predictor",
    "load_report_model",
    "metric_groups",
    "predict",
    "predict_paths",
    "predict_to_folder",
    "read_image",
    "report_items",
    "retrieve",
    "train_report",
    "write_predictions",
    "write_results",
    "zeroshot",
]
