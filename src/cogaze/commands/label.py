"""``cogaze label``: CheXpert-style labels (14 observations) for a CSV of report texts."""

from __future__ import annotations

import click


@click.command("label")
@click.argument("reports_csv", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Output CSV: Reports + the 14 CheXpert columns (1.0 / 0.0 / -1.0 / blank).")
@click.option("--column", default=None, help="Column holding the report text (default: the first column).")
@click.option("--labeler", type=click.Choice(["rule", "chexbert"]), default="rule", show_default=True,
              help="Built-in rules (no weights) or CheXbert weights.")
@click.option("--chexbert", type=click.Path(dir_okay=False), default=None, help="Local chexbert.pth.")
@click.option("--chexbert-tokenizer", type=click.Path(file_okay=False), default=None,
              help="Local bert-base-uncased tokenizer folder (default: the folder of --chexbert).")
def label(reports_csv: str, out: str, column: str | None, labeler: str, chexbert: str | None,
          chexbert_tokenizer: str | None) -> None:
    """Label the reports of REPORTS_CSV like chexpert-labeler: positive 1.0, negative 0.0, uncertain
    -1.0, blank when not mentioned. Empty reports get all blank (listed in a warning)."""
    from cogaze.data.records import BLANK, CHEXPERT_CLASSES, NEGATIVE, POSITIVE, UNCERTAIN
    from cogaze.metrics.chexpert_csv import read_report_texts, write_labels_csv
    from cogaze.metrics.report_eval import make_labeler

    name, texts, lines = read_report_texts(reports_csv, column)
    empty = [line for line, t in zip(lines, texts) if not t.strip()]
    if empty:
        shown = ", ".join(str(x) for x in empty[:10]) + (" ..." if len(empty) > 10 else "")
        click.echo(f"warning: {len(empty)} empty report(s) labelled all blank (lines {shown})", err=True)
    raw = make_labeler(labeler, chexbert, chexbert_tokenizer)(texts)
    write_labels_csv(out, texts, raw)
    click.echo(f"labelled {len(texts)} reports from column {name!r} ({labeler} labeler) -> {out}")
    click.echo(f"{'observation':28s} {'pos':>5s} {'neg':>5s} {'unc':>5s} {'blank':>6s}")
    for j, cls in enumerate(CHEXPERT_CLASSES):
        col = raw[:, j] if len(raw) else raw.reshape(0)
        click.echo(f"{cls:28s} {int((col == POSITIVE).sum()):5d} {int((col == NEGATIVE).sum()):5d} "
                   f"{int((col == UNCERTAIN).sum()):5d} {int((col == BLANK).sum()):6d}")
