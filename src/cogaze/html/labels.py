"""Readable names for the metric keys of result dicts (``chance_P@1`` -> "P@1 by chance").

Result files keep their machine keys; pages show these names instead.
"""

from __future__ import annotations

import re

_NAMES = {
    "chance_P@1": "P@1 by chance",
    "BLEU": "BLEU",
    "ROUGE_L": "ROUGE-L",
    "CIDEr": "CIDEr",
    "METEOR": "METEOR",
    "section_F1": "section F1",
    "section_P": "section precision",
    "section_R": "section recall",
    "section_CE_micro_F1": "section CE micro-F1",
    "dice_micro": "Dice (micro, over pixels)",
    "dice_per_image": "Dice (mean per image)",
    "random_init": "every weight random",
    "AUROC": "AUROC",
    "F1": "F1",
    "accuracy": "accuracy",
}


def display_name(key: str, fractions: bool = True) -> str:
    """The page's name of a metric key: ``BLEU_4`` -> "BLEU-4", ``CE_14_micro_F1`` -> "CE-14 micro-F1",
    ``AUROC@100%`` -> "AUROC (100 % labels)" (just "AUROC" with ``fractions=False``, where a page
    shows a single label fraction), ``chance_P@1`` -> "P@1 by chance"; other underscores become spaces."""
    base, _, fraction = key.partition("@") if re.search(r"@\d+%$", key) else (key, "", "")
    if base in _NAMES:
        name = _NAMES[base]
    elif m := re.fullmatch(r"BLEU_(\d)", base):
        name = f"BLEU-{m.group(1)}"
    elif m := re.fullmatch(r"CE_(\d+)_(micro|macro)_(F1|P|R)", base):
        name = f"CE-{m.group(1)} {m.group(2)}-{m.group(3)}"
    else:
        name = base.replace("_", " ")
    if fraction and fractions:
        name += f" ({fraction[:-1]} % labels)"
    return name


def readable(values: dict, fractions: bool = True) -> dict:
    """``values`` with every key through :func:`display_name` (order kept)."""
    return {display_name(str(k), fractions): v for k, v in values.items()}
