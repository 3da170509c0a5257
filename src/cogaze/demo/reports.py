"""Demo stage: report generation on the pretrained encoder, the two baselines, and their evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np

from cogaze.demo.stages import DemoState


def _items(s: DemoState, split: str) -> list:
    from cogaze.data.images import read_image
    from cogaze.tasks.report_generation import ReportItem

    return [ReportItem(dicom_id=r.dicom_id, subject_id=r.subject_id, target=r.findings, view=r.view,
                       indication=r.indication, history=r.history,
                       pixel_values=s.preprocess(read_image(r.image_path)))
            for r in s.frontal(split)]


def report_generation(s: DemoState) -> None:
    from cogaze.config import load_config
    from cogaze.html.labels import readable
    from cogaze.metrics.labeler import label_report
    from cogaze.metrics.report_eval import evaluate_pairs, start_meteor
    from cogaze.metrics.reports_csv import read_reports_csv
    from cogaze.resources import config_path
    from cogaze.tasks.report_generation import (
        ReportGenConfig,
        generate_reports,
        most_common_report,
        nearest_neighbour_reports,
        precompute_features,
        train_report_generator,
        write_reports_csv,
    )

    c = s.cfg
    cfg = load_config(ReportGenConfig, config_path("report/phantom-tiny.yaml"),
                      [*([f"train.epochs={c.report_epochs}"] if c.report_epochs else []),
                       f"decoder.num_beams={c.report_beams}", f"train.seed={c.seed}"])
    # METEOR's Java process loads its resources while the decoder trains (another core), not after.
    meteor = start_meteor(skip_missing=True)  # one JVM for the three systems
    try:
        train, val, test = _items(s, "train"), _items(s, "val"), _items(s, "test")
        run = s.out / "report_generation"
        result = train_report_generator(cfg, s.encoder, train, val, run, tokenizer=s.encoder.tokenizer)
        gen = result.generator
        query = precompute_features(s.encoder, test, memory=gen.config.memory)  # once: generation and the nearest-neighbour baseline
        ours = run / "generated.csv"
        generate_reports(gen, s.encoder, test, ours, batch_size=cfg.train.eval_batch_size, features=query)
        ids = [it.dicom_id for it in test]
        refs = [it.target for it in test]
        write_reports_csv(run / "baseline_most_common.csv", ids, refs,
                          [most_common_report([it.target for it in train])] * len(test))
        # The generator's training bank holds the train items' features (computed once, in training) unless
        # training dropped items with empty findings: the baseline searches every train item.
        bank = gen.train_bank if len(gen.train_targets) == len(train) else precompute_features(s.encoder, train)
        nn = nearest_neighbour_reports(query.pooled, [it.subject_id for it in test], bank.pooled,
                                       [it.subject_id for it in train], [it.target for it in train])
        write_reports_csv(run / "baseline_nearest_neighbour.csv", ids, refs, nn)
        table: dict[str, dict[str, Any]] = {}
        for name, path in (("CoGaze decoder", ours), ("most common report", run / "baseline_most_common.csv"),
                           ("nearest neighbour", run / "baseline_nearest_neighbour.csv")):
            scores = evaluate_pairs(read_reports_csv(path), n_boot=100, seed=c.seed, skip_missing=True, meteor=meteor)
            table[name] = {k: scores.get(k) for k in ("BLEU_1", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr",
                                                      "CE_14_micro_F1", "CE_5_micro_F1")}
    finally:
        if meteor is not None:
            meteor.close()
    s.results["report_generation"] = table
    s.page.add_section("Report generation", "A GPT-2-architecture decoder cross-attending to the frozen vision "
                       "latents, against two baselines in the same run; scored by `cogaze evaluate` "
                       "(pycocoevalcap, reference protocol; CE with the built-in rule labeler).")
    s.page.add_table([{"system": k, **readable(v)} for k, v in table.items()],
                     caption=f"Phantom test split, {len(test)} frontal images.")
    pairs = read_reports_csv(ours)
    for i in range(min(3, len(pairs))):
        s.page.add_text_pair(pairs.references[i], pairs.hypotheses[i], label_report(pairs.references[i]).tolist(),
                             label_report(pairs.hypotheses[i]).tolist(), title=pairs.ids[i][:17] + "...")
    s.results["report_generation_examples"] = int(np.minimum(3, len(pairs)))
