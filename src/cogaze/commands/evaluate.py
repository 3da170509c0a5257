"""``cogaze evaluate ...``: score generated reports (NLG, clinical efficacy, CIs), compare systems, and score
phrase grounding of a pretrained encoder's gaze maps."""

from __future__ import annotations

from typing import Any

import click

from cogaze.logs import verbosity_options

PROTOCOL = click.Choice(["reference", "lower", "ptb"])
LABELER = click.Choice(["rule", "chexbert"])
POLICY = click.Choice(["uncertain_positive", "uncertain_negative"])


def _common(f):
    f = click.option("--protocol", type=PROTOCOL, default="reference", show_default=True,
                     help="NLG text protocol (reference = the reference implementation's; recorded in output).")(f)
    f = click.option("--labeler", type=LABELER, default="rule", show_default=True,
                     help="Clinical-efficacy labeler: built-in rules or CheXbert weights.")(f)
    f = click.option("--chexbert", type=click.Path(dir_okay=False), default=None, help="Local chexbert.pth.")(f)
    f = click.option("--chexbert-tokenizer", type=click.Path(file_okay=False), default=None,
                     help="Local bert-base-uncased tokenizer folder (default: the folder of --chexbert).")(f)
    f = click.option("--policy", type=POLICY, default="uncertain_positive", show_default=True,
                     help="CE binarisation: uncertain counts as positive (the paper, docs/evaluation.md) or negative.")(f)
    f = click.option("--skip-missing", is_flag=True, help="Skip metrics that cannot run here (e.g. METEOR "
                     "without Java) with a warning instead of failing.")(f)
    f = click.option("--keep-empty", is_flag=True, help="Score empty generated reports as empty text instead "
                     "of rejecting the file.")(f)
    f = click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of resampling.")(f)
    f = click.option("--id-column", default="dicom_id", show_default=True)(f)
    f = click.option("--reference-column", default="reference_report", show_default=True)(f)
    f = click.option("--generated-column", default="generated_report", show_default=True)(f)
    f = click.option("--meteor-max-words", type=click.IntRange(min=0), default=1000, show_default=True,
                     help="METEOR scores a text on its first N words (0: no limit; see docs/evaluation.md).")(f)
    f = click.option("--meteor-long-text", type=click.Choice(["truncate", "error"]), default="truncate",
                     show_default=True, help="Longer texts: truncate with a warning naming the rows, or fail.")(f)
    return f


def _scoring(kw: dict[str, Any]) -> Any:
    from cogaze.api import Scoring

    return Scoring(protocol=kw["protocol"], labeler=kw["labeler"], chexbert=kw["chexbert"],
                   chexbert_tokenizer=kw["chexbert_tokenizer"], policy=kw["policy"],
                   skip_missing=kw["skip_missing"], meteor_max_words=kw["meteor_max_words"],
                   meteor_long_text=kw["meteor_long_text"], seed=kw["seed"])


def _csv(kw: dict[str, Any]) -> Any:
    from cogaze.api import ReportsCsv

    return ReportsCsv(kw["id_column"], kw["reference_column"], kw["generated_column"], kw["keep_empty"])


def _print_scores(res: dict[str, Any], width: int) -> None:
    click.echo(f"{'metric':{width}s} {'value':>8s}   95% CI")
    for key, value in res.items():
        if isinstance(value, float):
            ci = res.get(f"{key}_CI")
            ci_text = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
            click.echo(f"{key:{width}s} {value:8.4f}   {ci_text}")
    for name, why in res["unavailable"].items():
        click.echo(f"{name:{width}s} unavailable: {why}")
    for name, why in res.get("failed", {}).items():
        click.echo(f"{name:{width}s} FAILED: {why}")


@click.group()
def evaluate() -> None:
    """Evaluate generated reports (NLG, clinical efficacy, CIs, paired tests) and phrase grounding."""


@evaluate.command("reports")
@verbosity_options
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write all results here.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for 95% CIs (0: none).")
@click.option("--metrics", "metrics", default="nlg,ce", show_default=True,
              help="'all' (the official README's set) or nlg,ce plus any of bertscore, radgraph, semscore, "
                   "radcliq, ratescore (needs cogaze[radmetrics] and local weights, see docs/evaluation.md).")
@click.option("--weights", "weights_dir", type=click.Path(file_okay=False), default=None,
              help="Local folder with the model weights of the model metrics (else the Hugging Face cache).")
@click.option("--structured", is_flag=True, help="Structured reports (SRRG-Findings): StructEval BLEU, ROUGE-L, "
              "section presence, section-level CE, F1-RadGraph and F1-SRR where available.")
@click.option("--aligned", is_flag=True, help="Structured: score bullet i against bullet i (StructEval aligned=True) "
              "instead of whole sections (default; what the paper's Table 2 used).")
@click.option("--lowercase", is_flag=True, help="Structured: lower-case both texts before parsing and scoring.")
@click.option("--no-radgraph", is_flag=True, help="Structured: do not try F1-RadGraph.")
@click.option("--radgraph-dir", type=click.Path(file_okay=False), default=None,
              help="Structured: folder holding radgraph-xl/ (config.json, weights.th) [default: radgraph's cache].")
@click.option("--srr-bert", type=click.Path(file_okay=False), default=None,
              help="Structured: local SRR-BERT checkpoint folder for F1-SRR.")
@click.option("--srr-bert-tokenizer", type=click.Path(file_okay=False), default=None,
              help="Structured: tokenizer folder of SRR-BERT [default: the --srr-bert folder].")
@_common
def reports(csv_file: str, json_out: str | None, n_boot: int, metrics: str, weights_dir: str | None, structured: bool,
            aligned: bool, lowercase: bool, no_radgraph: bool, radgraph_dir: str | None, srr_bert: str | None,
            srr_bert_tokenizer: str | None, **kw) -> None:
    """Score CSV_FILE (columns dicom_id, reference_report, generated_report)."""
    from cogaze import api
    from cogaze.errors import CogazeError, ConfigError

    try:
        api.metric_groups(metrics.split(","))
    except ConfigError as err:
        raise click.BadParameter(str(err).removeprefix("metrics: "), param_hint="--metrics") from None
    if structured:
        res = api.evaluate_structured_reports(csv_file, _scoring(kw), _csv(kw), n_boot, aligned, lowercase,
                                              not no_radgraph, radgraph_dir, srr_bert, srr_bert_tokenizer)
        click.echo(f"{res['n_pairs']} structured report pairs, {res['n_section_rows']} section rows "
                   f"({res['n_matched_rows']} present on both sides)  protocol=StructEval findings "
                   f"aligned={aligned} lower_case={lowercase}  labeler={res['labeler']}")
        dropped = res["n_generated_lines_discarded"], res["n_reference_lines_discarded"]
        if any(dropped):
            click.echo(f"lines outside the header/bullet structure (discarded, as StructEval does): "
                       f"{dropped[0]} generated, {dropped[1]} reference")
        _print_scores(res, 22)
    else:
        if aligned or lowercase or srr_bert or no_radgraph or radgraph_dir:
            raise click.UsageError("--aligned, --lowercase, --no-radgraph, --radgraph-dir and --srr-bert need "
                                   "--structured")
        res = api.evaluate_reports(csv_file, _scoring(kw), _csv(kw), n_boot, metrics.split(","), weights_dir)
        click.echo(f"{res['n_pairs']} report pairs  protocol={res['protocol']}  labeler={res['labeler']}  "
                   f"CE policy={res['CE_policy']}")
        _print_scores(res, 16)
        if res["METEOR_truncated"]:
            click.echo(f"METEOR scored the first {kw['meteor_max_words']} words of {len(res['METEOR_truncated'])} "
                       f"long row(s): {', '.join(res['METEOR_truncated'][:10])}")
    if json_out:
        api.write_results(res, json_out)
        click.echo(f"wrote {json_out}")
    not_run = sorted(set(res["unavailable"]) | set(res.get("failed", {})))
    if not structured and not_run and not kw["skip_missing"]:
        raise CogazeError(f"{len(not_run)} requested metric(s) could not be computed: {', '.join(not_run)} "
                          "(reasons above; the other metrics are reported; --skip-missing accepts this)")


@evaluate.command("compare")
@verbosity_options
@click.argument("a_csv", type=click.Path(dir_okay=False))
@click.argument("b_csv", type=click.Path(dir_okay=False))
@click.option("--permutations", type=click.IntRange(min=1), default=1000, show_default=True, help="Randomisation replicates.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@_common
def compare(a_csv: str, b_csv: str, permutations: int, json_out: str | None, **kw) -> None:
    """Paired approximate-randomisation test of B against A, per metric (delta = B - A)."""
    from cogaze import api

    tests = api.compare_reports(a_csv, b_csv, _scoring(kw), _csv(kw), permutations)
    click.echo(f"{'metric':16s} {'A':>8s} {'B':>8s} {'B-A':>9s} {'p':>7s}")
    for t in tests:
        click.echo(f"{t.name:16s} {t.a:8.4f} {t.b:8.4f} {t.delta:+9.4f} {t.p_value:7.4f}")
    if json_out:
        api.write_results({"protocol": kw["protocol"], "permutations": permutations, "seed": kw["seed"],
                           "tests": [t.__dict__ for t in tests]}, json_out)
        click.echo(f"wrote {json_out}")


@evaluate.command("grounding")
@verbosity_options
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--boxes", type=click.Path(exists=True, dir_okay=False), default=None,
              help="MS-CXR-style box CSV (dicom_id, category_name, label_text, x, y, w, h, image_width, image_height).")
@click.option("--reflacx", type=click.Path(exists=True, file_okay=False), default=None,
              help="REFLACX folder (main_data/ with metadata_phase_*.csv and anomaly_location_ellipses.csv).")
@click.option("--min-certainty", type=click.IntRange(1, 5), default=3, show_default=True,
              help="REFLACX: keep ellipses of at least this certainty (3 = possibly).")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="test", show_default=True,
              help="Images of DATA_DIR to score ('all': every split, e.g. MS-CXR's full set).")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Bad or missing dataset items (e.g. only MS-CXR's images downloaded): stop with an error, or "
                   "skip and count them; their regions are then counted as not scored.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the table here.")
def grounding(run_dir: str, data_dir: str, boxes: str | None, reflacx: str | None, min_certainty: int, split: str,
              on_error: str, json_out: str | None) -> None:
    """Score RUN_DIR's sentence maps on DATA_DIR's images against ground-truth regions.

    Pointing game, top-10% hit rate, CNR, box IoU and text specificity (docs/gaze_grounding.md), beside
    the text-free map, the centre bias, a fitted centre prior and the true gaze where the data has them.
    Ground truth: --boxes, --reflacx, or the phantom's sentence boxes when DATA_DIR is a phantom.
    """
    from cogaze import api

    encoder = api.load_encoder(run_dir)
    res = api.evaluate_run_grounding(encoder, data_dir, boxes=boxes, reflacx=reflacx, split=split,
                                     min_certainty=min_certainty, on_error=on_error)
    click.echo(f"{res.sentences} sentences on {res.images} images ({res.split}); ground truth: {res.source}"
               + (f"; {res.regions_unmatched} regions on other images not scored" if res.regions_unmatched else ""))
    from cogaze.tasks.results import format_table

    rows = res.rows()
    click.echo(format_table(list(rows[0]), [list(r.values()) for r in rows]))
    if json_out:
        api.write_results(res.to_dict(), json_out)
        click.echo(f"wrote {json_out}")
