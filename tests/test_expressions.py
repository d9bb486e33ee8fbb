from __future__ import annotations

import pytest

from agentkit_inngest.testing.expressions import ExpressionError, evaluate

SCOPE = {
    "event": {"data": {"id": "T-1", "n": 3, "ok": True, "user": {"plan": "pro"}}},
    "async": {"data": {"id": "T-1", "n": 5, "note": 'it\'s "fine"'}},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("async.data.id == event.data.id", True),
        ("async.data.id != event.data.id", False),
        ("async.data.n > event.data.n && event.data.ok", True),
        ("async.data.n <= 4 || event.data.user.plan == 'pro'", True),
        ('event.data.user.plan == "free"', False),
        ("!(async.data.n < 5)", True),
        ("async.data.missing == null", True),
        ("async.data.n >= 5.0", True),
        ("event.data.ok == true && async.data.ok != false", True),
        ("async.data.id < 3", False),
        ("async.data.note == 'it\\'s \"fine\"'", True),
        ("-1 < 0", True),
    ],
)
def test_expressions(expression: str, expected: object) -> None:
    assert evaluate(expression, SCOPE) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "size(event.data) > 1",
        "event.data.id ==",
        "(event.data.id",
        "other.data == 1",
        "event.data.id @ 1",
        "1 1",
    ],
)
def test_unsupported_or_malformed_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, SCOPE)
