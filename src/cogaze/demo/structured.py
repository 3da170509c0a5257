"""Demo stage: structured report generation (SRRG layout) on the phantom, fine-tuned from the free-text run."""

from __future__ import annotations

from typing import Any

from cogaze.demo.stages import DemoState

SHOWN = ("BLEU", "ROUGE_L", "section_F1", "section_CE_micro_F1", "CE_14_micro_F1")


def structured_reports(s: DemoState) -> None:
    """Train the structured decoder from the free-text run, generate the test studies, compare with the
    most common structured report, and show generated vs reference sections side by side."""
    from cogaze.config import load_config
    from cogaze.html.labels import readable
    from cogaze.metrics.structured import structured_scores
    from cogaze.resources import config_path
    from cogaze.tasks.report_generation import (
        ReportGenConfig,
        generate_reports,
        most_common_report,
        nearest_neighbour_reports,
        precompute_features,
        train_report_generator,
    )
    from cogaze.tasks.report_generation.structured import srrg_annotation_path, srrg_report_items

    c = s.cfg
    assert s.data_dir is not None
    free_text = s.out / "report_generation"
    cfg = load_config(ReportGenConfig, config_path("report/phantom-tiny-structured.yaml"),
                      [*([f"train.epochs={c.structured_epochs}"] if c.structured_epochs else []),
                       f"decoder.num_beams={c.report_beams}", f"train.seed={c.seed}", f"init_from={free_text}"])
    annotation = srrg_annotation_path(s.data_dir)
    train, val, test = (srrg_report_items(annotation, split, s.preprocess, s.data_dir) for split in ("train", "val", "test"))
    run = s.out / "structured_reports"
    result = train_report_generator(cfg, s.encoder, train, val, run, tokenizer=s.encoder.tokenizer)
    # once: generation and the nearest-neighbour baseline
    query = precompute_features(s.encoder, test, memory=result.generator.config.memory)
    hyps = generate_reports(result.generator, s.encoder, test, run / "generated.csv",
                            batch_size=cfg.train.eval_batch_size, features=query)
    refs = [it.target for it in test]
    common = most_common_report([it.target for it in train])
    gen_ = result.generator
    nn = nearest_neighbour_reports(query.pooled, [it.subject_id for it in test],
                                   gen_.train_bank.pooled, gen_.train_subjects, gen_.train_targets)
    table: dict[str, dict[str, Any]] = {}
    for name, gen in (("CoGaze decoder (structured)", hyps), ("most common structured report", [common] * len(refs)),
                      ("nearest neighbour", nn)):
        scores = structured_scores(refs, gen).scores
        table[name] = {k: scores[k] for k in SHOWN}
    s.results["structured_reports"] = table
    s.page.add_section("Structured reports", "The report decoder fine-tuned from the free-text run on the "
                       "phantom's SRRG-format annotation (findings grouped under the fixed section headers, "
                       "one image per study, history as context), against the most common training report and the "
                       "report of the most similar training image (nearest neighbour). "
                       "BLEU and ROUGE-L follow the StructEval protocol (per section, a section on one side only "
                       "scores 0); section F1 = which headers appear; section CE F1 = finding labels per section.")
    s.page.add_table([{"system": k, **readable(v)} for k, v in table.items()],
                     caption=f"Phantom test split, {len(test)} studies, one image per study.")
    for i in range(min(2, len(test))):
        s.page.add_structured_pair(refs[i], hyps[i], title=test[i].dicom_id)
