"""A small evaluator for the expression subset Inngest uses.

A small evaluator for the expression subset Inngest uses in ``if`` and trigger
expressions: field paths (``event.data.id``, ``async.data.id``), string, number,
boolean and null literals, comparisons (``== != < <= > >=``), ``&&``, ``||``, ``!``
and parentheses. Anything else is rejected loudly rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["ExpressionError", "evaluate"]


class ExpressionError(ValueError):
    """The expression uses syntax this evaluator does not support, or is malformed."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, scope: Mapping[str, Any]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.scope = scope

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'a value'} in {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Any:
        value = self.disjunction()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return value

    def disjunction(self) -> Any:
        value = self.conjunction()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.conjunction()
            value = bool(value) or bool(right)
        return value

    def conjunction(self) -> Any:
        value = self.comparison()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.comparison()
            value = bool(value) and bool(right)
        return value

    def comparison(self) -> Any:
        left = self.unary()
        token = self.peek()
        if token is not None and token[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.unary()
            op = token[1]
            if op == "==":
                return left == right
            if op == "!=":
                return left != right
            try:
                if op == "<":
                    return left < right
                if op == "<=":
                    return left <= right
                if op == ">":
                    return left > right
                return left >= right
            except TypeError:
                return False
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not self.unary()
        if self.peek() == ("op", "("):
            self.take()
            value = self.disjunction()
            self.take(")")
            return value
        kind, text = self.take()
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "name":
            if text == "true":
                return True
            if text == "false":
                return False
            if text == "null":
                return None
            return self.lookup(text)
        raise ExpressionError(f"unexpected {text!r} in {self.text!r}")

    def lookup(self, path: str) -> Any:
        root, *rest = path.split(".")
        if root not in self.scope:
            raise ExpressionError(f"unknown name {root!r} in {self.text!r}")
        value: Any = self.scope[root]
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def evaluate(expression: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` with the names in ``scope`` (``event``, ``async``)."""
    return _Parser(expression, scope).parse()
