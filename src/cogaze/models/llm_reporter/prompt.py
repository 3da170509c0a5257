"""The one prompt builder used for both training and generation (spec 5.2/5.3; spec 11 defect fixed).

Layout (serialised by the tokenizer's chat template, or the Llama-3 format shown here)::

    BEGIN  HS system HE \\n\\n SYSTEM EOT \\n  HS user HE \\n\\n Input:\\n1. Image:      <- prefix
    <n visual tokens>
    \\n2. Similar report: ... \\n3. Predicted diseases: ... \\nInstructions: ... EOT \\n
    HS assistant HE \\n\\n                                                          <- suffix
    TARGET EOT                                                                     <- target (training)

The conversation is rendered once with sentinels where the image tokens and the similar report go
(``cogaze.models.llm_reporter.chat``) and cut there; EOT is the template's end-of-turn token.

Generation uses exactly prefix + visual + suffix. Token ids are built piece by piece so the similar
report can be cut from the left (keeping its end) and the whole sequence can be fitted to the
context window: first the similar report shrinks, then the target is cut from the right; each cut
is logged as a warning and flagged in :attr:`PromptIds.truncated`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from cogaze.errors import ConfigError
from cogaze.models.llm_reporter.chat import IMAGE, SIMILAR, ChatFormat, chat_format
from cogaze.models.llm_reporter.config import LLMConfig

log = logging.getLogger("cogaze.html")

NO_SIMILAR_CASE = "No similar report is available."
"""Stated in the prompt when no similar case exists (e.g. every training image is the same patient's)."""
NO_DISEASES = "None"
"""Stated in the prompt when the classifier predicts no disease."""

FINDINGS_SYSTEM = "You are a radiologist. Generate a concise, accurate Findings section for a chest X-ray."
FINDINGS_INSTRUCTIONS = (
    "Instructions:\n- Use the Similar report as a draft.\n- Revise based on the Image to ensure accuracy.\n"
    "- Refer to Predicted diseases only if supported by the Image.\n"
    "Output only the Findings section in formal radiology style."
)
SRRG_HEADERS = (
    "Lungs and Airways", "Pleura", "Cardiovascular", "Hila and Mediastinum",
    "Tubes, Catheters, and Support Devices", "Musculoskeletal and Chest Wall", "Abdominal", "Other",
)
STRUCTURED_SYSTEM = (
    "You are a radiologist. Write the Findings of this chest X-ray as a structured report using only these "
    "section headers: " + "; ".join(SRRG_HEADERS) + ". Only include a header if there are positive or relevant "
    "negative observations. Put each observation on its own line under its header, starting with '- '. "
    "Do not add other headers. Use neutral, descriptive language."
)


@dataclass
class PromptIds:
    """Token ids of one example around its ``n_visual`` image tokens."""

    prefix: list[int]
    n_visual: int
    suffix: list[int]
    target: list[int]
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.prefix) + self.n_visual + len(self.suffix) + len(self.target)


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def disease_text(names: Sequence[str]) -> str:
    """Disease names joined by ', ' or the stated placeholder."""
    return ", ".join(names) if names else NO_DISEASES


def build_prompt(
    tokenizer,
    cfg: LLMConfig,
    n_visual: int,
    similar_report: str | None,
    diseases: Sequence[str],
    target: str | None = None,
    context_window: int | None = None,
    fmt: ChatFormat | None = None,
) -> PromptIds:
    """Ids of the prompt (and of ``target`` + end-of-turn when training); same code for both uses.

    ``fmt`` is the chat serialisation (:func:`~cogaze.models.llm_reporter.chat.chat_format`, computed
    from ``tokenizer`` and ``cfg`` when not given): the tokenizer's chat template or the Llama-3 format.
    """
    fmt = fmt or chat_format(tokenizer, cfg)
    if cfg.task == "findings":
        system = FINDINGS_SYSTEM
        dis = f"\n3. Predicted diseases: {disease_text(diseases)}\n" if cfg.use_diseases else "\n"
        similar_part = f"\n2. Similar report: {SIMILAR}" if cfg.use_similar_case else ""
        user = f"Input:\n1. Image: {IMAGE}{similar_part}{dis}{FINDINGS_INSTRUCTIONS}"
    elif cfg.task == "structured":
        system, user = STRUCTURED_SYSTEM, f"Image: {IMAGE}"
    else:
        raise ConfigError(f"llm.task must be 'findings' or 'structured', got {cfg.task!r}")
    text = fmt.render(tokenizer, cfg, system, user)
    if text.count(IMAGE) != 1:
        raise ConfigError("the chat template does not keep the user message as given (image position lost); "
                          "use llm.prompt_format=llama3")
    prefix_text, rest = text.split(IMAGE)
    prefix = _ids(tokenizer, prefix_text)
    middle_a: list[int] = []
    similar: list[int] = []
    if SIMILAR in rest:
        before, rest = rest.split(SIMILAR)
        middle_a = _ids(tokenizer, before)
        sim_text = (similar_report or "").strip() or NO_SIMILAR_CASE
        similar = _ids(tokenizer, sim_text)[-cfg.max_similar_tokens :]
    tail = _ids(tokenizer, rest)  # the rest of the user turn and the assistant header
    target_ids = [] if target is None else _ids(tokenizer, target.strip()) + [fmt.eot_id]
    truncated = False
    # cap the text after the image (spec 5.2: 400 tokens) by shortening the similar report
    over = len(middle_a) + len(similar) + len(tail) - cfg.max_text_tokens
    window = context_window or 0
    if window:
        over = max(over, len(prefix) + n_visual + len(middle_a) + len(similar) + len(tail)
                   + len(target_ids) - window)
    if over > 0 and similar:
        cut = min(over, len(similar))
        similar = similar[cut:]
        over -= cut
        truncated = True
    if window:
        over = len(prefix) + n_visual + len(middle_a) + len(similar) + len(tail) + len(target_ids) - window
        if over > 0 and target_ids:
            cut = min(over, len(target_ids))
            target_ids = target_ids[: len(target_ids) - cut]
            over -= cut
            truncated = True
        if over > 0:
            raise ConfigError(
                f"the prompt needs {over} more tokens than the context window of {window} even without a "
                "similar report or target: shorten the instructions or use fewer visual tokens"
            )
    if truncated:
        log.warning("prompt longer than the context window or text cap: truncated (similar report from the left, "
                    "then the target from the right)")
    return PromptIds(prefix, n_visual, middle_a + similar + tail, target_ids, truncated)
