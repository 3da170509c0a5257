"""A warm METEOR 1.5 process (the jar shipped with pycocoevalcap), driven without round trips.

pycocoevalcap's ``Meteor.compute_score`` sends one ``SCORE ||| ref ||| hyp`` line per pair (waiting for
each answer), then one ``EVAL ||| stats_1 ||| ... ||| stats_n`` line; the jar answers one score per
segment and then the corpus score. Here the SCORE lines are written by a feeder thread while the
caller reads the answers (the JVM never idles), then the same EVAL line is sent: the corpus score and
the per-pair scores are the jar's own, equal to ``compute_score`` on the same input.

The corpus score is *not* the score of the plainly summed statistics: when the jar aggregates
(``MeteorStats.addStats``), a segment whose hypothesis matches its reference entirely in one chunk
(all words matched, ``chunks == 1``) adds no chunk, so exact matches carry no fragmentation penalty.
:func:`aggregable_stats` applies that rule per pair; the weighted sums used by bootstrap and
permutation replicates are then exactly what the jar would aggregate for the resampled corpus, and
:meth:`MeteorProcess.score_summed` scores them.

Input lines are built as pycocoevalcap builds them (the hypothesis loses ``|||`` and double spaces;
the reference is sent as is, so a ``|||`` inside a reference makes extra references, as there).
Line breaks, which pycocoevalcap cannot send (its reader goes out of step), become spaces.

Long texts (policy, documented in docs/evaluation.md): the jar's alignment search grows quickly with
length (a 10,000-word report exhausted a 2 GB heap after 41 s). Texts over ``max_words``
whitespace tokens (default 1,000; real reports have a few hundred at most) are truncated to their
first ``max_words`` tokens with a warning naming the rows (``long_text="truncate"``), or refused with
an error naming them (``"error"``). The JVM heap is sized from the longest text that is sent.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cogaze.errors import CogazeError

log = logging.getLogger("cogaze")

JAVA_INSTALL_HINT = (
    "METEOR needs a Java runtime (java was not found on PATH). Install one, e.g. "
    "`sudo apt-get install -y default-jre-headless` (Debian/Ubuntu), `brew install openjdk` (macOS) or "
    "`conda install -c conda-forge openjdk`; scripts/install.sh does this where it can. "
    "Or pass --skip-missing to skip METEOR with a warning."
)
DEFAULT_MAX_WORDS = 1000
LONG_TEXT_POLICIES: tuple[str, ...] = ("truncate", "error")
N_STATS = 23  # meteor-1.5: 4 lengths, 4 modules x (test/ref x content/function), chunks, 2 word-match totals
CHUNKS = 20


class MetricUnavailable(CogazeError):
    """A metric cannot run here (missing Java, package or model); the message says how to fix it."""


class MeteorFailed(CogazeError):
    """The METEOR process failed on a row (``row``: 0-based index of the pair, None if unknown)."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


def java_available(java: str = "java") -> bool:
    """Whether a ``java`` executable is on PATH."""
    return shutil.which(java) is not None


def _jar_dir() -> Path:
    import pycocoevalcap.meteor.meteor as m  # the jar and its paraphrase data live beside this module

    return Path(os.path.dirname(os.path.abspath(m.__file__)))


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def score_line(reference: str, hypothesis: str) -> str:
    """pycocoevalcap's ``SCORE`` request for one pair (line breaks -> spaces, see the module docstring)."""
    hyp = _one_line(hypothesis).replace("|||", "").replace("  ", " ")
    return " ||| ".join(("SCORE", _one_line(reference), hyp))


def heap_for(max_words: int) -> str:
    """JVM heap for texts of up to ``max_words`` words: pycocoevalcap's 2 GB up to 2,000 words, then
    1 GB more per 1,000 words, capped at half the machine's memory (at least 2 GB)."""
    gib = 2 + max(0, -(-(max_words - 2000) // 1000))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        gib = max(2, min(gib, int(total // 2)))
    except (ValueError, OSError, AttributeError):
        pass
    return f"{gib}G"


def limit_words(texts: Sequence[str], max_words: int) -> tuple[list[str], list[int]]:
    """``texts`` cut to their first ``max_words`` whitespace tokens, and the indices that were cut
    (``max_words <= 0``: no limit)."""
    out, cut = [], []
    for i, t in enumerate(texts):
        words = t.split()
        if max_words > 0 and len(words) > max_words:
            out.append(" ".join(words[:max_words]))
            cut.append(i)
        else:
            out.append(t)
    return out, cut


def aggregable_stats(stats: np.ndarray) -> np.ndarray:
    """Per-pair statistics as the jar adds them up: chunks set to 0 for exact one-chunk matches.

    The jar's ``MeteorStats`` recomputes total matches from the four modules' content and function
    matches (columns 4..19); a pair counts as exact when they equal both lengths and chunks == 1.
    """
    stats = np.array(stats, dtype=np.float64, copy=True)
    if stats.size == 0:
        return stats.reshape(0, N_STATS)
    test_total = stats[:, [4 + 4 * m + k for m in range(4) for k in (0, 2)]].sum(1)
    ref_total = stats[:, [5 + 4 * m + k for m in range(4) for k in (0, 2)]].sum(1)
    exact = (test_total == stats[:, 0]) & (ref_total == stats[:, 1]) & (stats[:, CHUNKS] == 1.0)
    stats[exact, CHUNKS] = 0.0
    return stats


class MeteorProcess:
    """A running ``meteor-1.5.jar -stdio -l en -norm`` (pycocoevalcap's exact command line).

    ``memory``: the JVM heap (``-Xmx``); pycocoevalcap uses 2G. :func:`heap_for` sizes it from text
    length. A process that died (e.g. out of heap) is restarted by the next request.
    """

    def __init__(self, java: str = "java", memory: str = "2G"):
        if not java_available(java):
            raise MetricUnavailable(JAVA_INSTALL_HINT)
        self.java, self.memory = java, memory
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        cmd = [self.java, "-jar", f"-Xmx{self.memory}", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
        self._proc = subprocess.Popen(
            cmd, cwd=_jar_dir(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )

    def ensure_memory(self, memory: str) -> None:
        """Restart the JVM with a larger heap when ``memory`` exceeds the current one."""
        if int(memory.rstrip("G")) > int(self.memory.rstrip("G")):
            log.info("restarting METEOR with a %s heap for long texts", memory)
            self.close()
            self.memory = memory
            self._start()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        if "OutOfMemoryError" in text:
            return f"the Java heap ({self.memory}) ran out (java.lang.OutOfMemoryError)"
        return text[-1000:].strip()

    def _request(self, lines: Sequence[str], answers_per_line: int) -> list[str]:
        """Send ``lines`` (from a feeder thread) and read ``answers_per_line`` replies per line.

        Raises :class:`MeteorFailed` naming the first line without an answer."""
        if self._proc.poll() is not None:  # died earlier (e.g. out of heap): start afresh
            self._stderr.close()
            self._start()
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        payload = "".join(line + "\n" for line in lines).encode("utf-8")
        error: list[BaseException] = []

        def feed() -> None:
            try:
                proc.stdin.write(payload)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
            except BaseException as err:  # noqa: BLE001 - reported below
                error.append(err)

        with self._lock:
            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            out: list[str] = []
            for i in range(len(lines) * answers_per_line):
                raw = proc.stdout.readline()
                if not raw:
                    proc.wait()
                    feeder.join()
                    row = i // answers_per_line
                    raise MeteorFailed(f"the METEOR process stopped on request {row}: {self._stderr_tail()}", row)
                out.append(raw.decode("utf-8").strip())
            feeder.join()
        if error:
            raise MeteorFailed(f"could not talk to the METEOR process: {error[0]}")
        return out

    def statistics_lines(self, references: Sequence[str], hypotheses: Sequence[str]) -> list[str]:
        """The jar's statistics line of each (reference, hypothesis) pair, as the jar wrote it."""
        return self._request([score_line(r, h) for r, h in zip(references, hypotheses)], 1) if references else []

    def statistics(self, references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """Alignment statistics (n, 23) of each (reference, hypothesis) pair."""
        lines = self.statistics_lines(references, hypotheses)
        return np.array([[float(x) for x in s.split()] for s in lines], dtype=np.float64).reshape(-1, N_STATS)

    def score_summed(self, summed: np.ndarray) -> np.ndarray:
        """METEOR of each row of aggregated statistics (m, 23) (sums of :func:`aggregable_stats`)."""
        summed = np.atleast_2d(summed)
        # repr keeps every digit of the float sums (integers in practice).
        lines = ["EVAL ||| " + " ".join(repr(float(v)) for v in row) for row in summed]
        # The jar answers an EVAL line with one line per segment, then the aggregate score.
        answers = self._request(lines, 2)
        return np.array([float(answers[2 * i + 1]) for i in range(len(lines))], dtype=np.float64)

    def score_segments(self, stats_lines: Sequence[str]) -> tuple[float, np.ndarray]:
        """pycocoevalcap's ``compute_score`` from the jar's statistics lines: (corpus, per-pair)."""
        if not stats_lines:
            return 0.0, np.zeros(0)
        line = "EVAL ||| " + " ||| ".join(stats_lines)
        answers = self._request([line], len(stats_lines) + 1)
        return float(answers[-1]), np.array([float(a) for a in answers[:-1]])

    def close(self) -> None:
        """Stop the Java process."""
        proc = self._proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout,):
            if stream is not None:
                stream.close()
        self._stderr.close()

    def __enter__(self) -> MeteorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort: never leave a JVM behind
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def meteor_score(process: MeteorProcess, references: Sequence[str], hypotheses: Sequence[str],
                 max_words: int = DEFAULT_MAX_WORDS, long_text: str = "truncate",
                 ids: Sequence[str] | None = None) -> tuple[float, np.ndarray, np.ndarray, list[int]]:
    """Corpus METEOR, per-pair scores, aggregable per-pair statistics and the truncated rows.

    Equal to pycocoevalcap's ``Meteor().compute_score`` for texts within ``max_words`` (see the
    module docstring for the long-text policy; ``ids`` name rows in messages). Raises
    :class:`MeteorFailed` naming the row when the jar fails on one."""
    if long_text not in LONG_TEXT_POLICIES:
        raise ValueError(f"long_text must be one of {', '.join(LONG_TEXT_POLICIES)}, got {long_text!r}")
    ids = [str(i) for i in range(len(references))] if ids is None else list(ids)
    refs, cut_r = limit_words(references, max_words)
    hyps, cut_h = limit_words(hypotheses, max_words)
    cut = sorted(set(cut_r) | set(cut_h))
    if cut:
        names = ", ".join(ids[i] for i in cut[:10]) + (f" and {len(cut) - 10} more" if len(cut) > 10 else "")
        if long_text == "error":
            raise CogazeError(f"METEOR: {len(cut)} row(s) have more than {max_words} words ({names}); "
                              "raise --meteor-max-words or use --meteor-long-text truncate")
        log.warning("METEOR: %d row(s) have more than %d words and are scored on their first %d words: %s",
                    len(cut), max_words, max_words, names)
    longest = max((len(t.split()) for t in refs + hyps), default=0)
    process.ensure_memory(heap_for(longest))
    try:
        lines = process.statistics_lines(refs, hyps)
    except MeteorFailed as err:
        row = err.row
        where = f" on row {ids[row]}" if row is not None and row < len(ids) else ""
        raise MeteorFailed(f"METEOR failed{where}: {err}", row) from None
    corpus, per_pair = process.score_segments(lines)
    stats = np.array([[float(x) for x in s.split()] for s in lines], dtype=np.float64).reshape(-1, N_STATS)
    return corpus, per_pair, aggregable_stats(stats), cut
