"""Realistic made-up rooms for demos, tests and benchmarks: long-tailed interests, big
organisations, some empty profiles. Deterministic for a given seed."""

from __future__ import annotations

import random

from matching.defaults import DEFAULT_QUESTIONS
from matching.model import Attendee, Room, Rules

FIRST = (
    "Priya",
    "Ada",
    "Kwame",
    "Mei",
    "Lucas",
    "Amara",
    "Jonas",
    "Sofia",
    "Hiroshi",
    "Fatima",
    "Mateo",
    "Ingrid",
    "Omar",
    "Chloé",
    "Ravi",
    "Zanele",
    "Tomasz",
    "Leila",
    "Diego",
    "Anya",
    "Kofi",
    "Elif",
    "Noah",
    "Ayesha",
    "Björn",
    "Camila",
    "Dmitri",
    "Esther",
    "Farid",
    "Grace",
)
LAST = (
    "Shah",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Mensah",
    "García",
    "Novak",
    "Haddad",
    "Kowalski",
    "Nguyen",
    "Rossi",
    "Dubois",
    "Osei",
    "Petrov",
    "Silva",
    "Yilmaz",
    "Berg",
)
HOBBIES = (
    "hiking",
    "cooking",
    "jazz",
    "running",
    "board games",
    "photography",
    "climbing",
    "gardening",
    "films",
    "travel",
    "reading",
    "yoga",
    "chess",
    "cycling",
    "baking",
    "knitting",
    "swimming",
    "poetry",
    "tennis",
    "birdwatching",
    "pottery",
    "salsa",
    "sailing",
    "astronomy",
    "football",
    "painting",
    "choir",
    "surfing",
    "skiing",
    "opera",
)
TOPICS = (
    "machine learning",
    "climate",
    "design",
    "startups",
    "open source",
    "public health",
    "education",
    "marketing",
    "policy",
    "data",
    "genomics",
    "urban planning",
    "fintech",
    "accessibility",
    "robotics",
    "journalism",
    "supply chains",
    "energy",
    "law",
    "ethics",
)
SKILLS = (
    "hiring",
    "mentoring",
    "fundraising",
    "design review",
    "introductions",
    "python",
    "statistics",
    "sales",
    "legal advice",
    "public speaking",
    "grant writing",
    "ux research",
)
NEEDS = (
    "a job",
    "a mentor",
    "funding",
    "co-founders",
    "feedback",
    "customers",
    "python",
    "statistics",
    "hiring",
    "introductions",
    "grant writing",
    "design review",
)
ORGANISATIONS = ("Acme Bio", "Globex", "Initech", "Umbrella Labs", "Stark Analytics")


def _zipf_sample(rng: random.Random, pool: tuple[str, ...], count: int) -> tuple[str, ...]:
    """Popular answers often, rare ones sometimes, now and then one nobody else gave."""
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    chosen: set[str] = set()
    for _ in range(count):
        if rng.random() < 0.08:
            chosen.add(f"{rng.choice(pool)} {rng.randint(1, 500)}")
        else:
            chosen.add(rng.choices(pool, weights)[0])
    return tuple(sorted(chosen))


def synthetic_room(n: int, *, seed: int = 0, rules: Rules = Rules()) -> Room:
    """A room of `n` made-up attendees answering the default questions."""
    rng = random.Random(seed)
    people: list[Attendee] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.25:
            organisation = ORGANISATIONS[0]  # one big organisation
        elif roll < 0.45:
            organisation = rng.choice(ORGANISATIONS[1:])
        elif roll < 0.85:
            organisation = f"Studio {rng.randint(1, n)}"
        else:
            organisation = ""
        empty = rng.random() < 0.08
        answers = (
            {}
            if empty
            else {
                "hobbies": _zipf_sample(rng, HOBBIES, rng.randint(1, 4)),
                "topics": _zipf_sample(rng, TOPICS, rng.randint(0, 3)),
                "offers": _zipf_sample(rng, SKILLS, rng.randint(0, 2)),
                "seeks": _zipf_sample(rng, NEEDS, rng.randint(0, 2)),
            }
        )
        people.append(
            Attendee(
                id=f"p{i}",
                name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                organisation=organisation,
                answers={k: v for k, v in answers.items() if v},
            )
        )
    return Room(questions=DEFAULT_QUESTIONS, attendees=tuple(people), rules=rules)
