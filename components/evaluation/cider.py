"""CIDEr-D (Vedantam, Zitnick and Parikh 2015), as computed by the coco-caption scorer
(`pycocoevalcap.cider.cider_scorer.CiderScorer`, the "-D" variant), in corpus df mode.

For each item i with candidate c and references S_1..S_m:

    g_n(s)[w]  = tf(w, s) * (log N - log max(1, df(w)))   for each n-gram w of order n
    CIDEr-D(c) = 10 / m * sum_j mean_{n=1..4} pen(c, S_j) * <min(g_n(c), g_n(S_j)), g_n(S_j)>
                                                          / (|g_n(c)| |g_n(S_j)|)
    pen(c, S)  = exp(-(l(c) - l(S))^2 / (2 * 6^2))

- N is the number of items in the evaluated corpus and df(w) the number of items whose
  reference set contains w (df is read from references only, never candidates). An n-gram
  in no reference gets df 1, so the largest weight log N; an n-gram in every item's
  references gets weight 0. A one-item corpus therefore scores 0 for every candidate.
- tf is the raw n-gram count (not divided by the length), as in the scorer's code; the
  min(...) clips each candidate weight at the reference's, so repeating a word does not
  pay ("-D").
- A zero-norm side (no n-grams of that order with non-zero weight) gives 0 for that order,
  so sentences shorter than 4 tokens cannot reach 10: a perfect 3-token match scores 7.5.
- l(s) is what the scorer's code counts as length: the number of *bigrams* of s
  (`if n == 1: length += term_freq` on the 0-based order index), i.e. max(0, tokens - 1).
  Kept for fidelity; it differs from the token-count difference only when a side has
  fewer than 2 tokens.
- The corpus score is the mean of the per-item scores.

Tokenisation (`tokenize`) approximates the Stanford PTBTokenizer run by coco-caption with
`-lowerCase` followed by removal of its punctuation list (. ? ! , : ; - -- ... quotes,
backquotes and brackets):
1. lowercase; curly quotes and apostrophes become straight ones;
2. clitics split off as PTB does: "don't" -> "do n't", "can't" -> "ca n't",
   "it's" -> "it 's" (also 're 've 'll 'd 'm), "cannot" -> "can not";
3. a token is a run of letters, digits and underscores, joined across a single inner
   "-", ".", "/" or (between digits) "," ("vector-like", "img_2847.jpg", "3.5", "1,000");
   or one of the symbols $ % & # @ + = * < > ~ ^ | as a token of its own;
4. everything else is dropped: the punctuation coco-caption removes, and characters
   PTB cannot tokenise (emoji and other symbols; PTB's default deletes them).
"""

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_N = 4
SIGMA = 6.0

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"'})
_CLITIC = re.compile(r"(?<=[a-z0-9])(n't|'s|'re|'ve|'ll|'d|'m)\b")
_CANNOT = re.compile(r"\bcannot\b")
_TOKEN = re.compile(
    r"n't|'(?:s|re|ve|ll|d|m)\b"  # clitics split off in step 2
    r"|\d+(?:,\d{3})+(?:\.\d+)?"  # 1,000 and 12,345.6
    r"|\w+(?:[-./]\w+)*"  # words, hyphenated words, file names, decimals
    r"|[$%&#@+=*<>~^|]"  # symbols PTB keeps as tokens
)


@dataclass(frozen=True)
class CiderResult:
    score: float  # mean of per_item
    per_item: dict[str, float]  # key -> CIDEr-D of that item's candidate, in candidates' order


def tokenize(text: str) -> list[str]:
    """Lowercased PTB-like tokens with punctuation removed (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}: {text!r}")
    text = text.lower().translate(_QUOTES)
    text = _CANNOT.sub("can not", text)
    text = _CLITIC.sub(r" \1", text)
    return _TOKEN.findall(text)


def cider_d(candidates: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> CiderResult:
    """CIDEr-D of each candidate against its references, with df from this corpus's references.

    `candidates` and `references` must have the same keys; each candidate is one string and
    each reference list holds at least one string.
    """
    _check_inputs(candidates, references)
    keys = list(candidates)
    cand_counts = {k: _ngram_counts(tokenize(candidates[k])) for k in keys}
    ref_counts = {k: [_ngram_counts(tokenize(r)) for r in references[k]] for k in keys}

    # Document frequency: in how many items' reference sets each n-gram occurs.
    df: Counter[tuple[str, ...]] = Counter()
    for k in keys:
        df.update(set().union(*ref_counts[k]))
    log_n = math.log(len(keys))

    def vectorise(counts: Counter[tuple[str, ...]]) -> tuple[list[dict], list[float], int]:
        vec: list[dict[tuple[str, ...], float]] = [{} for _ in range(MAX_N)]
        for gram, tf in counts.items():
            vec[len(gram) - 1][gram] = tf * (log_n - math.log(max(1.0, df[gram])))
        norms = [math.sqrt(sum(w * w for w in v.values())) for v in vec]
        length = sum(tf for gram, tf in counts.items() if len(gram) == 2)  # the scorer's "length": bigrams
        return vec, norms, length

    per_item: dict[str, float] = {}
    for k in keys:
        vec_c, norm_c, len_c = vectorise(cand_counts[k])
        total = 0.0
        for counts in ref_counts[k]:
            vec_r, norm_r, len_r = vectorise(counts)
            penalty = math.exp(-((len_c - len_r) ** 2) / (2 * SIGMA**2))
            for n in range(MAX_N):
                dot = sum(min(w, vec_r[n].get(g, 0.0)) * vec_r[n].get(g, 0.0) for g, w in vec_c[n].items())
                if norm_c[n] != 0 and norm_r[n] != 0:
                    dot /= norm_c[n] * norm_r[n]
                total += penalty * dot / MAX_N
        per_item[k] = 10.0 * total / len(ref_counts[k])
    return CiderResult(score=sum(per_item.values()) / len(per_item), per_item=per_item)


def _ngram_counts(tokens: Sequence[str]) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, MAX_N + 1):
        for i in range(len(tokens) - n + 1):
            counts[tuple(tokens[i : i + n])] += 1
    return counts


def _check_inputs(candidates: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> None:
    if not isinstance(candidates, Mapping) or not isinstance(references, Mapping):
        raise TypeError(
            f"candidates and references must be mappings, got {type(candidates).__name__} "
            f"and {type(references).__name__}"
        )
    if not candidates:
        raise ValueError("cider_d needs at least one item; candidates is empty")
    missing_refs = [k for k in candidates if k not in references]
    missing_cands = [k for k in references if k not in candidates]
    if missing_refs or missing_cands:
        raise ValueError(
            f"candidates and references must have the same keys: no references for {missing_refs[:10]}"
            f"{' ...' if len(missing_refs) > 10 else ''}, no candidate for {missing_cands[:10]}"
            f"{' ...' if len(missing_cands) > 10 else ''}"
        )
    for k, c in candidates.items():
        if not isinstance(c, str):
            raise TypeError(f"candidate for {k!r} must be one str, got {type(c).__name__}: {c!r}")
    for k, refs in references.items():
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise TypeError(f"references for {k!r} must be a sequence of str, got {type(refs).__name__}: {refs!r}")
        if len(refs) == 0:
            raise ValueError(f"references for {k!r} is empty; every item needs at least one reference")
        bad = [r for r in refs if not isinstance(r, str)]
        if bad:
            raise TypeError(f"references for {k!r} must all be str, got {bad[0]!r}")
