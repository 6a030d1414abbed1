"""Pair scores (common ground) and their explanations (docs/matching.md)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.model import Question, Reason, Room

if TYPE_CHECKING:
    from scipy import sparse

FloatMatrix = npt.NDArray[np.float64]

# A need one person can meet for the other is worth this many points per match and direction,
# about what a shared answer held by a seventh of the room is worth (1 + ln 7).
OFFER_POINTS = 3.0

_PUNCTUATION = " \t\n.,;:!?'\"()[]{}"


@lru_cache(maxsize=65536)
def normalise(answer: str) -> str:
    """The comparison key of an answer: no case, accents, extra spaces or simple plural.

    "Hiking ", "hiking" and "HIKING" are one answer; so are "board games" and "Board Game",
    "hobbies" and "hobby", "movies" and "movie".
    """
    decomposed = unicodedata.normalize("NFKD", answer)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = plain.casefold().split()
    if not words:
        return ""
    words[-1] = _singular(words[-1].strip(_PUNCTUATION))
    return " ".join(w for w in (word.strip(_PUNCTUATION) for word in words) if w)


def _singular(word: str) -> str:
    # A consonant before a final "y" stands for "ie" (hobby/hobbies -> "hobbie").
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiouy":
        return word[:-1] + "ie"
    if len(word) <= 3:
        return word
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def display(answer: str) -> str:
    """An answer as people typed it, with its spacing tidied."""
    return " ".join(answer.split())


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """The distinct normalised answers of one question (or an offers/seeks pair)."""

    keys: dict[str, int]
    shown: list[str]

    @classmethod
    def build(cls, answer_lists: Iterable[Iterable[str]]) -> _Vocabulary:
        keys: dict[str, int] = {}
        shown: list[str] = []
        for answers in answer_lists:
            for answer in answers:
                key = normalise(answer)
                if key and key not in keys:
                    keys[key] = len(shown)
                    shown.append(display(answer))
        return cls(keys, shown)

    def tokens(self, answers: Iterable[str]) -> list[int]:
        found = {self.keys[k] for k in (normalise(a) for a in answers) if k in self.keys}
        return sorted(found)


def _incidence(
    rows: Sequence[list[int]], width: int, values: npt.NDArray[np.float64] | None = None
) -> sparse.csr_matrix:
    """Attendees x answers: 1 where given (or the answer's entry of `values`)."""
    from scipy import sparse  # here, not at import: a tiny room's plan starts faster

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float64) if values is None else values[indices]
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), max(width, 1)))


@dataclass(frozen=True, slots=True)
class _SharedPart:
    question: Question
    vocabulary: _Vocabulary
    tokens: list[list[int]]
    matrix: sparse.csr_matrix  # attendees x answers, 1 where given
    points: npt.NDArray[np.float64]  # per answer: weight x rarity
    weighted: sparse.csr_matrix  # matrix with each answer's column scaled by its points


@dataclass(frozen=True, slots=True)
class _OfferPart:
    offers: Question
    seeks: Question
    vocabulary: _Vocabulary
    offered: list[list[int]]
    sought: list[list[int]]
    offer_matrix: sparse.csr_matrix
    seek_matrix: sparse.csr_matrix


@dataclass(frozen=True, slots=True)
class _DifferentPart:
    question: Question
    tokens: list[list[int]]
    matrix: sparse.csr_matrix
    sizes: npt.NDArray[np.float64]


class Scorer:
    """Common-ground points between attendees of a room, and the reasons behind them.

    Points are computed on demand for any block of attendees (a full matrix for a round, a
    few rows for a repair) with sparse products, so large rooms stay fast.
    """

    def __init__(self, room: Room) -> None:
        self.room = room
        self.ids = [a.id for a in room.attendees]
        self.index = {attendee_id: i for i, attendee_id in enumerate(self.ids)}
        self.names = {a.id: a.display_name for a in room.attendees}
        organisations = [normalise(a.organisation) for a in room.attendees]
        org_keys = {org: i for i, org in enumerate(sorted(set(organisations) - {""}))}
        # -1 for "no organisation given": never counts as the same organisation.
        self.organisation = np.array([org_keys.get(o, -1) for o in organisations], dtype=np.int64)

        questions = {q.key: q for q in room.questions}
        size = max(len(self.ids), 1)
        self._shared: list[_SharedPart] = []
        self._offers: list[_OfferPart] = []
        self._different: list[_DifferentPart] = []
        for question in room.questions:
            answers = [a.answers.get(question.key, ()) for a in room.attendees]
            if question.kind == "shared":
                vocabulary = _Vocabulary.build(answers)
                tokens = [vocabulary.tokens(x) for x in answers]
                matrix = _incidence(tokens, len(vocabulary.shown))
                given = np.asarray(matrix.sum(axis=0)).ravel()
                # A rarer shared answer counts more: 1 + ln(N / how many gave it).
                rarity = 1.0 + np.log(size / np.maximum(given, 1.0))
                points = question.weight * rarity
                weighted = _incidence(tokens, len(vocabulary.shown), points)
                self._shared.append(
                    _SharedPart(question, vocabulary, tokens, matrix, points, weighted)
                )
            elif question.kind == "offers" and question.pairs_with in questions:
                seeks = questions[question.pairs_with]
                sought_answers = [a.answers.get(seeks.key, ()) for a in room.attendees]
                vocabulary = _Vocabulary.build([*answers, *sought_answers])
                offered = [vocabulary.tokens(x) for x in answers]
                sought = [vocabulary.tokens(x) for x in sought_answers]
                width = len(vocabulary.shown)
                self._offers.append(
                    _OfferPart(
                        question,
                        seeks,
                        vocabulary,
                        offered,
                        sought,
                        _incidence(offered, width),
                        _incidence(sought, width),
                    )
                )
            elif question.kind == "different":
                vocabulary = _Vocabulary.build(answers)
                tokens = [vocabulary.tokens(x) for x in answers]
                matrix = _incidence(tokens, len(vocabulary.shown))
                sizes = np.array([len(t) for t in tokens], dtype=np.float64)
                self._different.append(_DifferentPart(question, tokens, matrix, sizes))

    def __len__(self) -> int:
        return len(self.ids)

    def points(
        self, rows: npt.NDArray[np.int64] | None = None, cols: npt.NDArray[np.int64] | None = None
    ) -> FloatMatrix:
        """Common-ground points for every (row, col) pair; all attendees where not given.

        A person's points with themselves are whatever the formula gives: callers mask the
        diagonal.
        """
        n = len(self.ids)
        r = np.arange(n) if rows is None else rows
        c = np.arange(n) if cols is None else cols
        total = np.zeros((len(r), len(c)), dtype=np.float64)
        for part in self._shared:
            total += (part.weighted[r] @ part.matrix[c].T).toarray()
        for offer in self._offers:
            weight = offer.offers.weight * OFFER_POINTS
            forward = offer.offer_matrix[r] @ offer.seek_matrix[c].T
            backward = offer.seek_matrix[r] @ offer.offer_matrix[c].T
            total += weight * (forward + backward).toarray()
        for diff in self._different:
            overlap = (diff.matrix[r] @ diff.matrix[c].T).toarray()
            size_r = diff.sizes[r][:, None]
            size_c = diff.sizes[c][None, :]
            union = size_r + size_c - overlap
            both = (size_r > 0) & (size_c > 0)
            distance = np.where(both, 1.0 - overlap / np.maximum(union, 1.0), 0.0)
            total += diff.question.weight * distance
        return total

    def answers_in_common(
        self, rows: npt.NDArray[np.int64] | None = None, cols: npt.NDArray[np.int64] | None = None
    ) -> FloatMatrix:
        """Common ground in plain counts, without weights or rarity: the answers both gave,
        plus the needs one can meet for the other (each direction once). `different`
        questions count nothing here. As `points`, callers mask the diagonal."""
        n = len(self.ids)
        r = np.arange(n) if rows is None else rows
        c = np.arange(n) if cols is None else cols
        total = np.zeros((len(r), len(c)), dtype=np.float64)
        for part in self._shared:
            total += (part.matrix[r] @ part.matrix[c].T).toarray()
        for offer in self._offers:
            forward = offer.offer_matrix[r] @ offer.seek_matrix[c].T
            backward = offer.seek_matrix[r] @ offer.offer_matrix[c].T
            total += (forward + backward).toarray()
        return total

    def same_organisation(
        self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        a = self.organisation[rows][:, None]
        b = self.organisation[cols][None, :]
        result: npt.NDArray[np.bool_] = (a == b) & (a >= 0)
        return result

    def reasons(self, members: Sequence[str]) -> tuple[Reason, ...]:
        """The common ground of a group, best first: shared answers, needs met, differences."""
        idx = [self.index[m] for m in members]
        found: list[Reason] = []
        for part in self._shared:
            counts: dict[int, int] = {}
            for i in idx:
                for t in part.tokens[i]:
                    counts[t] = counts.get(t, 0) + 1
            for t, count in counts.items():
                if count >= 2:
                    pairs = count * (count - 1) // 2
                    found.append(
                        Reason(
                            "shared",
                            part.question.label,
                            part.vocabulary.shown[t],
                            float(part.points[t]) * pairs,
                        )
                    )
        for offer in self._offers:
            points = offer.offers.weight * OFFER_POINTS
            for giver in idx:
                offered = set(offer.offered[giver])
                for receiver in idx:
                    if receiver == giver:
                        continue
                    for t in sorted(offered.intersection(offer.sought[receiver])):
                        found.append(
                            Reason(
                                "offers",
                                offer.offers.label,
                                offer.vocabulary.shown[t],
                                points,
                                giver=self.ids[giver],
                                receiver=self.ids[receiver],
                            )
                        )
        for diff in self._different:
            sets = [set(diff.tokens[i]) for i in idx]
            if all(sets) and all(
                not sets[x] & sets[y] for x in range(len(sets)) for y in range(x + 1, len(sets))
            ):
                label = diff.question.label
                found.append(Reason("different", label, "different answers", diff.question.weight))
        found.sort(key=lambda reason: (-reason.points, reason.kind, reason.label, reason.answer))
        return tuple(found)
