"""Keyword vocabularies, keyword presence in captions, and keyword-level partial-label targets (S-CLIP).

S-CLIP's second pseudo-label: an unpaired image inherits, as a *candidate set*, the keywords found in the
caption of its nearest paired image, and is trained with a partial-label loss over the whole vocabulary.
This module provides the pieces that do not involve a model:

- a vocabulary, either read from a file (one keyword per line) or mined from the paired captions by plain
  counting (no external keyword extractor);
- a presence matrix: which keywords occur in which caption (whole words, plural-tolerant);
- vectorized candidate targets and the partial-label loss.

Text matching rule (shared by mining and presence): both sides go through :func:`normalize_text`, then a
keyword of n words matches n consecutive caption words when every pair of words is equal up to a plural
suffix, i.e. one of them equals the other, or the other + "s", or the other + "es". "boat" matches "boats",
"tank" matches "tanks", "bus" matches "buses", and (in the other direction) the class-name keyword
"storage tanks" matches the caption words "storage tank". Matching is whole-word: "car" does not match
"cart" or "carpet". The public S-CLIP code instead tests ``" keyword " in " caption "`` case-sensitively,
which misses plurals, capitalized words and words with punctuation attached.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "DEFAULT_STOP_WORDS",
    "PHRASE_END_WORDS",
    "normalize_text",
    "mine_keywords",
    "load_keyword_file",
    "keyword_presence",
    "keyword_targets",
    "partial_label_loss",
]


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Generic English function words plus the filler that remote-sensing / image captions are full of
# ("there are many ...", "lots of ...", "in the image", "located beside ...").
DEFAULT_STOP_WORDS: frozenset[str] = _word_set(
    """
    a about above across after again against all almost along also although am among an and another any
    are around as at away be because been before behind being below beneath beside besides between both
    but by can could did do does doing done down during each either else even every few for from further
    had has have having he her here hers him his how however i if in inside into is it its itself just
    like may me might more most much must my near nearby neither next no nor not now of off on once one
    only onto or other others our out outside over own per quite rather same she should since so such
    than that the their them then there these they this those though through throughout to together too
    toward towards under until up upon us very via was we were what when where whether which while who
    whom whose why will with within without would yet you your
    two three four five six seven eight nine ten dozens
    image images picture pictures photo photos view views scene scenes shown show shows seen see
    located locate lies lie lying stand stands standing sits sitting set placed
    there many some several lots lot plenty number numbers kind kinds part parts piece pieces
    side sides middle center centre top bottom left right front back edge edges corner corners
    surrounded surround surrounding surrounds full filled covered cover covers
    big small large little long short high low tall wide narrow different various
    arranged neatly densely sparsely orderly regularly scattered go goes going position positions area areas
    """
)

_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NON_WORD = re.compile(r"[^\w\s]|_")  # \w keeps unicode letters and digits
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower-case; letters, digits and single spaces only.

    Apostrophes are dropped ("plane's" -> "planes"), every other non-alphanumeric character, hyphens
    included, becomes a space ("tennis-court" -> "tennis court", "roads,trees" -> "roads trees").
    """
    text = _APOSTROPHES.sub("", text.lower())
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# Filler on their own ("lots of trees", "on the left side") but the head noun of real phrases such as
# "parking lot" or "river side": a phrase may end with one of these (it still may not start with one).
PHRASE_END_WORDS: frozenset[str] = _word_set(
    "lot lots side sides top center centre middle edge edges corner corners part parts area areas"
)


def _is_stop(token: str, stop_words: frozenset[str]) -> bool:
    # Single characters and bare numbers are never useful keywords either.
    return token in stop_words or len(token) < 2 or token.isdigit()


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _phrase_forms(words: Sequence[str]) -> Iterable[tuple[str, ...]]:
    """Every word sequence that matches ``words`` under the plural rule (see the module docstring)."""
    return itertools.product(*(sorted(_word_forms(w)) for w in words))


def mine_keywords(
    captions: Sequence[Sequence[str]],
    min_images: int = 3,
    max_image_fraction: float = 0.5,
    max_keywords: int = 100,
    ngram_max: int = 2,
    stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
    phrase_coverage: float = 0.9,
    phrase_end_words: Iterable[str] = PHRASE_END_WORDS,
) -> list[str]:
    """Mine a keyword vocabulary from the captions of the paired images by image frequency.

    The rules, in order:

    1. Candidates are the word n-grams (n <= ``ngram_max``) of the normalized captions that neither start
       nor end with a stop word (a stop word may sit inside a phrase of three or more words, e.g. "bridge
       over river"; a phrase of two or more words may end with one of ``phrase_end_words``, e.g.
       "parking lot"). Single characters and bare numbers count as stop words.
    2. Surface forms that differ only by a plural suffix ("boat" / "boats") are one keyword, written in its
       most frequent form; its image count is the number of images where any form occurs. This is the
       count :func:`keyword_presence` would give on the same captions.
    3. Keep keywords occurring in >= ``min_images`` images and in at most ``max_image_fraction`` of them.
    4. A phrase replaces its shorter parts: a word or shorter phrase is dropped when a kept longer phrase
       containing it occurs in at least ``phrase_coverage`` times as many images as the part does
       ("storage" is dropped for "storage tanks" when almost every image mentioning "storage" says
       "storage tanks"; "tanks" stays if it is also used on its own).
    5. Rank by image count (descending), then alphabetically; return the first ``max_keywords``.

    Args:
        captions: for every paired image, its captions.

    Returns:
        Keywords as space-separated normalized words. Deterministic.
    """
    if not 0 < max_image_fraction <= 1:
        raise ValueError(f"mine_keywords: max_image_fraction must be in (0, 1], got {max_image_fraction}")
    if ngram_max < 1:
        raise ValueError(f"mine_keywords: ngram_max must be >= 1, got {ngram_max}")
    if isinstance(captions, str) or any(isinstance(c, str) for c in captions):
        raise TypeError("mine_keywords: captions must be a sequence of caption lists, one list per image")
    stop = frozenset(normalize_text(w) for w in stop_words)
    end_ok = frozenset(normalize_text(w) for w in phrase_end_words)

    def admissible(gram: tuple[str, ...]) -> bool:
        if _is_stop(gram[0], stop):
            return False
        return not _is_stop(gram[-1], stop) or (len(gram) > 1 and gram[-1] in end_ok)

    # 1. images of every admissible surface n-gram
    images_of: dict[tuple[str, ...], set[int]] = defaultdict(set)
    for image_index, image_captions in enumerate(captions):
        for caption in image_captions:
            tokens = normalize_text(caption).split()
            for n in range(1, ngram_max + 1):
                for gram in _ngrams(tokens, n):
                    if admissible(gram):
                        images_of[gram].add(image_index)

    # 2. merge plural variants into the most frequent surface form
    keyword_of: dict[tuple[str, ...], tuple[str, ...]] = {}
    image_count: dict[tuple[str, ...], int] = {}
    for gram in sorted(images_of, key=lambda g: (-len(images_of[g]), " ".join(g))):
        if gram in keyword_of:
            continue
        union: set[int] = set()
        for form in _phrase_forms(gram):
            if form in images_of and keyword_of.setdefault(form, gram) == gram:
                union |= images_of[form]
        image_count[gram] = len(union)

    # 3. frequency window
    max_images = max_image_fraction * len(captions)
    kept = {g: c for g, c in image_count.items() if min_images <= c <= max_images}

    # 4. phrases replace the parts they (almost) always contain
    covered: set[tuple[str, ...]] = set()
    for gram, count in kept.items():
        for n in range(1, len(gram)):
            for part in _ngrams(gram, n):
                part_keyword = keyword_of.get(part)
                if part_keyword in kept and count >= phrase_coverage * kept[part_keyword]:
                    covered.add(part_keyword)

    # 5. rank
    ranked = sorted((g for g in kept if g not in covered), key=lambda g: (-kept[g], " ".join(g)))
    return [" ".join(g) for g in ranked[:max_keywords]]


def load_keyword_file(path: str | Path) -> list[str]:
    """Read a keyword vocabulary: one keyword per line, ``#`` starts a comment, blank lines skipped.

    Keywords are returned as written (stripped), since they are fed verbatim to the text encoder.
    Duplicates (equal after :func:`normalize_text`) are dropped with a warning naming both lines.
    """
    path = Path(path)
    keywords: list[str] = []
    first_line: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            keyword = line.split("#", 1)[0].strip()
            if not keyword:
                continue
            key = normalize_text(keyword)
            if not key:
                raise ValueError(
                    f"{path}:{line_number}: keyword {keyword!r} has no letters or digits, "
                    "so it can never match a caption"
                )
            if key in first_line:
                warnings.warn(
                    f"{path}:{line_number}: duplicate keyword {keyword!r} (already on line {first_line[key]}); skipped",
                    stacklevel=2,
                )
                continue
            first_line[key] = line_number
            keywords.append(keyword)
    if not keywords:
        raise ValueError(f"{path}: no keywords found (expected one keyword per line)")
    return keywords


def _word_forms(word: str) -> set[str]:
    """All caption words that match the keyword word under the plural rule of the module docstring."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("es") and len(word) > 2:
        forms.add(word[:-2])
    if word.endswith("s") and len(word) > 1:
        forms.add(word[:-1])
    return forms


def keyword_presence(captions: Sequence[str], keywords: Sequence[str]) -> Tensor:
    """Bool tensor (n_captions, K): does keyword k occur in caption i (whole words, plural-tolerant)?"""
    if isinstance(captions, str):
        raise TypeError("keyword_presence: captions must be a sequence of strings, not a single string")
    # Index every surface form of every keyword once, then look up each caption's n-grams in it.
    form_to_keywords: dict[tuple[str, ...], list[int]] = {}
    lengths: set[int] = set()
    for index, keyword in enumerate(keywords):
        words = normalize_text(keyword).split()
        if not words:
            raise ValueError(f"keyword_presence: keyword {index} ({keyword!r}) has no letters or digits")
        lengths.add(len(words))
        for form in _phrase_forms(words):
            form_to_keywords.setdefault(form, []).append(index)

    presence = torch.zeros(len(captions), len(keywords), dtype=torch.bool)
    for row, caption in enumerate(captions):
        tokens = normalize_text(caption).split()
        hits = {k for n in lengths for gram in _ngrams(tokens, n) for k in form_to_keywords.get(gram, ())}
        if hits:
            presence[row, sorted(hits)] = True
    return presence


def keyword_targets(
    assignment: Tensor,
    presence: Tensor,
    keyword_logits: Tensor,
    weighting: Literal["softmax", "uniform", "linear"] = "linear",
) -> Tensor:
    """Partial-label targets over keywords for unpaired images.

    Args:
        assignment: (M,) long, index of the nearest paired item of each unpaired image (e.g. the argmax of
            the row of the OT plan).
        presence: (N, K) bool, keywords present in the caption of each paired item.
        keyword_logits: (M, K) scaled similarities of the unpaired images to the keywords; detached here.
        weighting: how the target mass is spread over the candidates ``presence[assignment]``:
            ``"linear"`` (default): ``a / sum(a)`` over the candidates, as in the public S-CLIP code. With CLIP logits
            ``a = s * cos`` and cosines that differ by a few hundredths between candidates, the ratios are
            all close to 1/|candidates|, so this is nearly uniform. It assumes positive logits; a row whose
            candidate logits sum to 0 falls back to uniform.
            ``"softmax"`` (ours): softmax of the logits restricted to the candidates, the PRODEN-style
            re-weighting in which the model's current belief decides among candidates.
            ``"uniform"``: equal mass on every candidate.

    Returns:
        (M, K) float targets; each row sums to 1, or is all zero when the row has no candidate.
    """
    if assignment.dim() != 1 or presence.dim() != 2 or keyword_logits.dim() != 2:
        raise ValueError(
            "keyword_targets: expected assignment (M,), presence (N, K), keyword_logits (M, K); got "
            f"{tuple(assignment.shape)}, {tuple(presence.shape)}, {tuple(keyword_logits.shape)}"
        )
    if keyword_logits.shape != (assignment.shape[0], presence.shape[1]):
        raise ValueError(
            f"keyword_targets: keyword_logits has shape {tuple(keyword_logits.shape)}, expected "
            f"(M, K) = ({assignment.shape[0]}, {presence.shape[1]}) from assignment and presence"
        )
    logits = keyword_logits.detach().float()
    candidates = presence.to(device=logits.device, dtype=torch.bool)[assignment.to(presence.device)]
    candidates = candidates.to(logits.device)
    has_candidate = candidates.any(-1, keepdim=True)
    mask = candidates.float()

    if weighting == "softmax":
        masked = logits.masked_fill(~candidates, float("-inf"))
        masked = torch.where(has_candidate, masked, torch.zeros_like(masked))  # avoid an all -inf row
        return masked.softmax(-1) * mask
    uniform = mask / mask.sum(-1, keepdim=True).clamp(min=1)
    if weighting == "uniform":
        return uniform
    if weighting == "linear":
        weights = logits * mask
        total = weights.sum(-1, keepdim=True)
        safe_total = torch.where(total == 0, torch.ones_like(total), total)
        return torch.where(total == 0, uniform, weights / safe_total)
    raise ValueError(f"keyword_targets: unknown weighting {weighting!r}; expected softmax, uniform or linear")


def partial_label_loss(
    keyword_logits: Tensor,
    targets: Tensor,
    empty_rows: Literal["skip", "count"] = "count",
) -> Tensor:
    """Partial-label cross-entropy ``-sum_k t_k log softmax(logits)_k``, the softmax over all keywords.

    ``empty_rows="count"`` (default) averages over all rows, empty ones contributing 0, as the public S-CLIP code
    does; the loss then shrinks with the fraction of images whose neighbour caption contains no keyword.
    ``"skip"`` (ours) averages over the rows that have a candidate only; it returns 0 (still attached to the
    graph) when no row has one.
    """
    if keyword_logits.shape != targets.shape:
        raise ValueError(
            f"partial_label_loss: logits {tuple(keyword_logits.shape)} and targets "
            f"{tuple(targets.shape)} must have the same shape"
        )
    targets = targets.to(keyword_logits.device, torch.float32)
    per_row = -(targets * keyword_logits.float().log_softmax(-1)).sum(-1)
    if empty_rows == "count":
        return per_row.mean()
    if empty_rows == "skip":
        has_target = (targets.sum(-1) > 0).float()
        return (per_row * has_target).sum() / has_target.sum().clamp(min=1)
    raise ValueError(f"partial_label_loss: unknown empty_rows {empty_rows!r}; expected skip or count")
