"""cogaze's public API: everything the command line, the demo and a server do, as plain functions.

Load a pretrained encoder or report model from a run folder, load datasets, run the downstream tasks,
generate and evaluate reports, and show where a radiologist would look::

    import cogaze.api as cg

    encoder = cg.load_encoder("runs/pretrain")
    result = cg.zeroshot(encoder, cg.DataSource(dataset="rsna", split_dir="RSNA_split", image_root="rsna/"))
    print(result.table())
    cg.explain_image(encoder, "cxr.dcm", "explain_out", report="Small left effusion.")
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
from cogaze.api.loading import load_encoder, load_report_model
from cogaze.api.reports import generate, report_items, train_report
from cogaze.api.sources import DataSource
from cogaze.data.dataset import load_dataset
from cogaze.data.downstream import SideTables, get_dataset, load_downstream
from cogaze.data.images import read_image

__all__ = [
    "DataSource",
    "ReportsCsv",
    "Scoring",
    "SideTables",
    "compare_reports",
    "evaluate_reports",
    "evaluate_structured_reports",
    "explain_image",
    "finetune",
    "generate",
    "get_dataset",
    "load_dataset",
    "load_downstream",
    "load_encoder",
    "load_report_model",
    "metric_groups",
    "read_image",
    "report_items",
    "retrieve",
    "train_report",
    "write_results",
    "zeroshot",
]
