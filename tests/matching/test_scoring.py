"""Scoring: normalisation, rarity, offers and seeks, differences, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from matching.model import Attendee, Question, Room
from matching.scoring import OFFER_POINTS, Scorer, normalise
from tests.matching.conftest import person, room


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hiking ", "hiking"),
        ("HIKING", "hiking"),
        ("  board   games", "Board Game"),
        ("hobbies", "hobby"),
        ("movies", "Movie"),
        ("Café", "cafe"),
        ("Crème brûlée", "creme brulee"),
        ("boxes", "box"),
        ("Jazz!", "jazz"),
    ],
)
def test_normalise_makes_spellings_of_one_answer_equal(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(("a", "b"), [("chess", "ches"), ("jazz", "jaz"), ("glass", "gla")])
def test_normalise_keeps_words_that_end_in_s_distinct(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


def test_differently_spelled_answers_are_common_ground() -> None:
    scorer = Scorer(room(person("a", hobbies=["Hiking "]), person("b", hobbies=["HIKING"])))
    points = scorer.points()
    assert points[0, 1] > 0
    assert [r.answer for r in scorer.reasons(["a", "b"])] == ["Hiking"]


def test_rarer_shared_answer_counts_more() -> None:
    people = [
        person("a", hobbies=["jazz", "hiking"]),
        person("b", hobbies=["hiking"]),
        person("c", hobbies=["jazz", "hiking"]),
        person("d", hobbies=["hiking"]),
    ]
    points = Scorer(room(*people)).points()
    # a-b share only "hiking" (everyone's); a-c share "jazz" (rare) and "hiking".
    hiking_only = points[0, 1]
    with_jazz = points[0, 2]
    assert with_jazz - hiking_only > hiking_only


def test_offers_meet_seeks_in_both_directions() -> None:
    helper = person("a", offers=["fundraising"], seeks=["design"])
    founder = person("b", offers=["Design"], seeks=["fundraising"])
    scorer = Scorer(room(helper, founder))
    assert scorer.points()[0, 1] == pytest.approx(2 * 1.5 * OFFER_POINTS)
    texts = [r.text(scorer.names) for r in scorer.reasons(["a", "b"])]
    assert sorted(texts) == ["A can help with fundraising", "B can help with Design"]


def test_offer_without_matching_need_scores_nothing() -> None:
    scorer = Scorer(room(person("a", offers=["design"]), person("b", offers=["design"])))
    assert scorer.points()[0, 1] == 0


def test_different_question_prefers_people_whose_answers_differ() -> None:
    questions = (Question("dept", "Department", "different", weight=2.0),)
    people = (
        Attendee("a", answers={"dept": ("sales",)}),
        Attendee("b", answers={"dept": ("Sales",)}),
        Attendee("c", answers={"dept": ("research",)}),
        Attendee("d"),
    )
    points = Scorer(Room(questions, people)).points()
    assert points[0, 1] == 0
    assert points[0, 2] == pytest.approx(2.0)
    assert points[0, 3] == 0  # no answer: no known difference


def test_question_weight_scales_its_points() -> None:
    light = Room(
        (Question("h", "H", "shared", weight=1.0),),
        (Attendee("a", answers={"h": ("x",)}), Attendee("b", answers={"h": ("x",)})),
    )
    heavy = Room(
        (Question("h", "H", "shared", weight=3.0),),
        light.attendees,
    )
    assert Scorer(heavy).points()[0, 1] == pytest.approx(3 * Scorer(light).points()[0, 1])


def test_explanations_carry_labels_best_first() -> None:
    a = person("a", hobbies=["jazz", "hiking"], topics=["climate"], offers=["python"])
    b = person("b", hobbies=["jazz", "hiking"], topics=["climate"], seeks=["python"])
    c = person("c", hobbies=["hiking"])
    scorer = Scorer(room(a, b, c))
    reasons = scorer.reasons(["a", "b"])
    assert [r.points for r in reasons] == sorted((r.points for r in reasons), reverse=True)
    texts = [r.text(scorer.names) for r in reasons]
    assert "Outside work I love: jazz" in texts
    assert "Ask me about: climate" in texts
    assert "A can help with python" in texts
    # Jazz and climate are rarer than hiking, so they come before it.
    assert texts.index("Outside work I love: jazz") < texts.index("Outside work I love: hiking")


def test_points_equal_the_sum_of_the_reasons() -> None:
    rng = np.random.default_rng(3)
    tags = ["a", "b", "c", "d", "e"]
    people = [
        person(
            f"p{i}",
            hobbies=list(rng.choice(tags, 2, replace=False)),
            offers=[str(rng.choice(tags))],
            seeks=[str(rng.choice(tags))],
        )
        for i in range(8)
    ]
    scorer = Scorer(room(*people))
    points = scorer.points()
    for i in range(8):
        for j in range(i + 1, 8):
            reasons = scorer.reasons([f"p{i}", f"p{j}"])
            assert points[i, j] == pytest.approx(sum(r.points for r in reasons))


def test_points_of_a_block_match_the_full_matrix() -> None:
    people = [person(f"p{i}", hobbies=[f"h{i % 3}"], offers=[f"s{i % 2}"]) for i in range(6)]
    scorer = Scorer(room(*people))
    full = scorer.points()
    rows = np.array([4, 1], dtype=np.int64)
    cols = np.array([0, 5, 2], dtype=np.int64)
    assert np.allclose(scorer.points(rows, cols), full[np.ix_(rows, cols)])


def test_same_organisation_ignores_case_and_blanks() -> None:
    scorer = Scorer(
        room(person("a", org="Acme Bio"), person("b", org="acme bio "), person("c"), person("d"))
    )
    idx = np.arange(4, dtype=np.int64)
    same = scorer.same_organisation(idx, idx)
    assert same[0, 1]
    assert not same[2, 3]  # two people without an organisation are not colleagues
