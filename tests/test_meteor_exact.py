"""METEOR equals pycocoevalcap's ``Meteor().compute_score`` (called directly) to 1e-9, exact matches,
repeats, empty and punctuation-only texts and long texts included; resampling uses the jar's own
aggregation; the long-text policy and a failing JVM name their rows."""

from __future__ import annotations

import numpy as np
import pytest

from cogaze.metrics import meteor as meteor_mod
from cogaze.metrics.meteor import MeteorProcess, aggregable_stats, heap_for, limit_words, meteor_score
from cogaze.metrics.nlg import apply_protocol, compute_nlg

pytestmark = pytest.mark.skipif(not meteor_mod.java_available(), reason="METEOR needs Java")

SENTENCES = [
    "No acute cardiopulmonary abnormality.", "Heart size is normal.", "Lungs are clear.",
    "There is no pleural effusion or pneumothorax.", "Mild cardiomegaly is stable.",
    "Small left pleural effusion with adjacent atelectasis.", "Endotracheal tube terminates 4 cm above the carina.",
    "No focal consolidation, pleural effusion, or pneumothorax.", "Mediastinal contours are unremarkable.",
    "Right lower lobe opacity may represent pneumonia.", "Degenerative changes of the thoracic spine.",
    "Pulmonary vascular congestion without frank edema.", "Interval removal of the right PICC line.",
]


def random_pairs(seed: int, n: int) -> tuple[list[str], list[str]]:
    """Report-like pairs: one third exact matches, some repeated pairs, empty / punctuation-only texts."""
    rng = np.random.default_rng(seed)

    def report() -> str:
        k = int(rng.integers(1, 5))
        return " ".join(SENTENCES[j] for j in rng.choice(len(SENTENCES), size=k, replace=False))

    refs, hyps = [], []
    for i in range(n):
        ref = report()
        kind = i % 6
        hyp = ref if kind in (0, 1) else report()
        refs.append(ref)
        hyps.append(hyp)
    refs += [refs[0], "Lungs are clear.", "Heart size is normal.", "No effusion.", ". , ;", "Lungs are clear."]
    hyps += [hyps[0], "", ".", ". , ;", "Heart size normal.", "Lungs are clear."]
    return refs, hyps


@pytest.fixture(scope="module")
def coco():
    from pycocoevalcap.meteor.meteor import Meteor

    m = Meteor()
    yield m
    del m


@pytest.fixture(scope="module")
def proc():
    with MeteorProcess() as p:
        yield p


def coco_score(coco, refs, hyps):
    return coco.compute_score({i: [r] for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)})


def test_identical_pairs_score_one(coco, proc):
    refs = ["No acute cardiopulmonary abnormality .", "Heart size is normal . Lungs are clear ."]
    corpus, per_pair, stats, cut = meteor_score(proc, refs, refs)
    expected, expected_each = coco_score(coco, refs, refs)
    assert expected == 1.0 and corpus == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(per_pair, expected_each, atol=1e-12) and not cut
    # exact one-chunk matches add no chunk when the jar aggregates
    assert (stats[:, meteor_mod.CHUNKS] == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pycocoevalcap_on_random_pair_sets(coco, proc, seed):
    refs, hyps = random_pairs(seed, 60)
    refs, hyps = apply_protocol(refs, "reference"), apply_protocol(hyps, "reference")
    corpus, per_pair, stats, _ = meteor_score(proc, refs, hyps)
    expected, expected_each = coco_score(coco, refs, hyps)
    assert corpus == pytest.approx(expected, abs=1e-9)
    assert np.allclose(per_pair, expected_each, atol=1e-9, rtol=0)
    # the resampling statistic reproduces the corpus value ...
    assert proc.score_summed(stats.sum(0))[0] == pytest.approx(expected, abs=1e-9)
    # ... and a replicate's weights equal the library on the resampled corpus (duplicated rows)
    w = np.random.default_rng(seed).integers(0, 3, size=len(refs)).astype(float)
    idx = np.repeat(np.arange(len(refs)), w.astype(int))
    resampled, _ = coco_score(coco, [refs[i] for i in idx], [hyps[i] for i in idx])
    assert proc.score_summed(w @ stats)[0] == pytest.approx(resampled, abs=1e-9)
    # plain sums (the old statistic) are wrong whenever exact matches are present
    plain = np.array([[float(x) for x in line.split()] for line in proc.statistics_lines(refs, hyps)])
    assert abs(proc.score_summed(plain.sum(0))[0] - expected) > 1e-4


def test_compute_nlg_meteor_and_bootstrap_statistic(coco, proc):
    refs, hyps = random_pairs(7, 30)
    res = compute_nlg(refs, hyps, protocol="reference", meteor=proc)
    expected, _ = coco_score(coco, apply_protocol(refs, "reference"), apply_protocol(hyps, "reference"))
    assert res.scores["METEOR"] == pytest.approx(expected, abs=1e-9)
    m = next(m for m in res.metrics if m.name == "METEOR")
    assert m.value() == pytest.approx(expected, abs=1e-9)


def test_long_texts_equal_library_and_line_breaks(coco, proc):
    rng = np.random.default_rng(5)
    words = " ".join(SENTENCES).split()
    long_ref = " ".join(rng.choice(words, size=700))
    long_hyp = " ".join(rng.choice(words, size=650))
    refs, hyps = [long_ref, "a b c"], [long_hyp, "a b c"]
    corpus, _, _, cut = meteor_score(proc, refs, hyps)
    assert not cut and corpus == pytest.approx(coco_score(coco, refs, hyps)[0], abs=1e-9)
    # line breaks (which pycocoevalcap cannot send) count as spaces
    a, _, _, _ = meteor_score(proc, ["Heart normal.\nLungs clear."], ["Heart normal.\r\nLungs clear."])
    b, _, _, _ = meteor_score(proc, ["Heart normal. Lungs clear."], ["Heart normal. Lungs clear."])
    assert a == b == 1.0


def test_long_text_policy_names_rows(proc, caplog):
    texts, cut = limit_words(["a b c d", "a b"], 3)
    assert texts == ["a b c", "a b"] and cut == [0]
    refs, hyps = ["w " * 30, "lungs are clear"], ["w " * 12, "lungs are clear"]
    with pytest.raises(meteor_mod.CogazeError, match=r"1 row\(s\) have more than 10 words \(row-a\)"):
        meteor_score(proc, refs, hyps, max_words=10, long_text="error", ids=["row-a", "row-b"])
    with caplog.at_level("WARNING", logger="cogaze"):
        _, _, _, cut = meteor_score(proc, refs, hyps, max_words=10, ids=["row-a", "row-b"])
    assert cut == [0] and "row-a" in caplog.text
    import os

    half = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 // 2)
    assert heap_for(500) == heap_for(2000) == "2G"
    assert heap_for(6500) == f"{max(2, min(7, half))}G"  # 2 GB + 1 GB per 1,000 words over 2,000


def test_failing_jvm_names_row_and_other_metrics_survive(monkeypatch):
    # A JVM that dies on its second request (stands in for an out-of-heap crash on a long report).
    fake = MeteorProcess.__new__(MeteorProcess)
    fake.memory = "2G"
    fake.ensure_memory = lambda memory: None  # type: ignore[method-assign]

    def dying(lines, answers_per_line):
        raise meteor_mod.MeteorFailed("the METEOR process stopped on request 1: the Java heap (2G) ran out", 1)

    fake._request = dying  # type: ignore[method-assign]
    fake.close = lambda: None  # type: ignore[method-assign]
    res = compute_nlg(["No effusion.", "Heart normal."], ["No effusion.", "Heart is normal."], meteor=fake,
                      ids=["s1", "s2"])
    assert "METEOR" not in res.scores and "on row s2" in res.failed["METEOR"]
    assert res.scores["BLEU_1"] > 0.5 and "ROUGE_L" in res.scores and "CIDEr" in res.scores


def test_aggregable_stats_rule():
    exact = np.zeros(23)
    exact[[0, 1]] = 3
    exact[[4, 5]] = 2
    exact[[6, 7]] = 1
    exact[20] = 1
    other = exact.copy()
    other[0] = 4  # one unmatched test word: not exact
    out = aggregable_stats(np.stack([exact, other]))
    assert out[0, 20] == 0 and out[1, 20] == 1
