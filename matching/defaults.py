"""The questions a new event starts with: personal common ground first, then work, then needs."""

from matching.model import Question

DEFAULT_QUESTIONS: tuple[Question, ...] = (
    Question(
        key="hobbies",
        label="Outside work I love",
        kind="shared",
        weight=1.0,
        suggestions=(
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
        ),
    ),
    Question(
        key="topics",
        label="Ask me about",
        kind="shared",
        weight=1.0,
        suggestions=(
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
        ),
    ),
    Question(
        key="offers",
        label="I can help with",
        kind="offers",
        weight=1.5,
        pairs_with="seeks",
        suggestions=("hiring", "mentoring", "fundraising", "design review", "introductions"),
    ),
    Question(
        key="seeks",
        label="I'm looking for",
        kind="seeks",
        weight=1.0,
        suggestions=("a job", "a mentor", "funding", "co-founders", "feedback", "customers"),
    ),
)
