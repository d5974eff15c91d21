"""Parse formula text into a syntax tree and check where each construct may appear.

:func:`parse_text` tokenizes (see :mod:`.tokens`), refuses texts past the size limits,
checks parentheses and ``~``, and runs the grammar (:mod:`.grammar`, a precedence-climbing
parser with R's operator precedences); parses are memoized.

:func:`check_context` then enforces where things may appear: formula operators
(``: * / ^ | ||``) only in the formula structure, ordinary arithmetic inside
function calls, ``cbind()`` only as the whole response, ``poly()``/``factor()``
only as variables of the formula.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from mixedfx.errors import ArgumentTypeError

from .errors import FormulaError
from .functions import FUNCTIONS
from .grammar import Parser
from .nodes import (
    BinOp,
    Call,
    Kw,
    Name,
    Node,
    Num,
    Paren,
    Str,
    UnaryOp,
)
from .tokens import Token, tokenize

__all__ = ["check_context", "parse_text"]

_ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "^"})

MAX_FORMULA_LENGTH = 20_000   # characters
MAX_NESTING = 100             # parentheses inside parentheses
MAX_OPERATORS = 400           # binary operators (each adds a level to the syntax tree)


def _check_balance(text: str, tokens: list[Token]) -> None:
    stack: list[Token] = []
    ops = [t for t in tokens if t.kind == "OP" and t.value != "~"]
    if len(ops) > MAX_OPERATORS:
        raise FormulaError(f"formula too long: {len(ops)} operators (the limit is "
                           f"{MAX_OPERATORS}); build the model matrix in fewer terms, e.g. "
                           "with a factor or poly()", text, ops[MAX_OPERATORS].start,
                           ops[MAX_OPERATORS].end)
    for tok in tokens:
        if tok.kind == "(":
            stack.append(tok)
            if len(stack) > MAX_NESTING:
                raise FormulaError(f"formula too deeply nested: more than {MAX_NESTING} "
                                   "levels of parentheses", text, tok.start, tok.end)
        elif tok.kind == ")":
            if not stack:
                raise FormulaError(
                    "unbalanced parentheses: unmatched ')'", text, tok.start, tok.end
                )
            stack.pop()
    if stack:
        tok = stack[-1]
        raise FormulaError("unbalanced parentheses: '(' is never closed", text, tok.start, tok.end)


def parse_text(text: str, columns: Sequence[str], mode: str = "formula") -> Node:
    """Parse ``text`` and return its tree.

    ``mode``: ``"formula"`` requires exactly one ``~`` (the tree is a ``~`` node);
    ``"rhs"`` is a right-hand side, optionally starting with ``~``;
    ``"expression"`` is a plain expression without ``~``.

    Trees are immutable, so parses are memoized on (text, string columns, mode); a refused
    text raises every time (exceptions are not cached).
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}")
    return _parse_text_cached(text, tuple(c for c in columns if isinstance(c, str)), mode)


@functools.lru_cache(maxsize=512)
def _parse_text_cached(text: str, columns: tuple[str, ...], mode: str) -> Node:
    return _parse_text(text, columns, mode)


def _parse_text(text: str, columns: Sequence[str], mode: str) -> Node:
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"formula too long ({len(text):,} characters; the limit is "
                           f"{MAX_FORMULA_LENGTH:,})")
    cols = [c for c in columns if isinstance(c, str)]
    tokens = tokenize(text, cols)
    if tokens[0].kind == "EOF":
        raise FormulaError("empty formula", text, 0, 1)
    _check_balance(text, tokens)
    tildes = [t for t in tokens if t.kind == "OP" and t.value == "~"]
    if mode == "formula" and not tildes:
        raise FormulaError(
            "missing '~' in formula (expected 'response ~ terms')", text, 0, len(text)
        )
    if mode == "expression" and tildes:
        raise FormulaError("'~' is not allowed here", text, tildes[0].start, tildes[0].end)
    if len(tildes) > 1:
        raise FormulaError("more than one '~' in formula", text, tildes[1].start, tildes[1].end)
    parser = Parser(text, tokens, cols)
    tree = parser.expression()
    tok = parser.peek()
    if tok.kind != "EOF":
        raise parser.error(f"unexpected {parser.describe(tok)}", tok)
    if tildes:
        top_is_tilde = (isinstance(tree, BinOp) and tree.op == "~") or (
            isinstance(tree, UnaryOp) and tree.op == "~"
        )
        if not top_is_tilde:
            raise FormulaError(
                "'~' must separate the response from the terms at the top level",
                text,
                tildes[0].start,
                tildes[0].end,
            )
        if mode == "rhs":
            if isinstance(tree, BinOp):
                raise FormulaError(
                    "expected a right-hand side only (no response)",
                    text,
                    tree.left.start,
                    tree.left.end,
                )
            assert isinstance(tree, UnaryOp)
            return tree.operand
    return tree


def _is_factor_call(node: Node) -> bool:
    """`factor(x)` / `as.factor(x)` as relevel()'s argument (a factor, as R requires)."""
    while isinstance(node, Paren):
        node = node.expr
    return isinstance(node, Call) and node.func in ("factor", "as.factor")


def check_context(node: Node, context: str, text: str) -> None:
    """Raise :class:`FormulaError` for constructs not allowed in ``context``.

    ``context`` is ``"formula"`` (the formula structure, where ``+ - * / : ^ %in%``
    are formula operators and bars may appear), ``"response"`` (arithmetic or a
    top-level ``cbind``) or ``"arith"`` (ordinary arithmetic, inside calls).
    """

    def err(reason: str, n: Node) -> FormulaError:
        return FormulaError(reason, text, n.start, n.end)

    def visit(n: Node, ctx: str) -> None:
        if isinstance(n, (Num, Name)):
            return
        if isinstance(n, (Str, Kw)):              # only relevel()'s level (checked below)
            raise err("a quoted level is only allowed as relevel()'s reference level", n)
        if isinstance(n, Paren):
            visit(n.expr, ctx)
            return
        if isinstance(n, UnaryOp):
            if n.op == "~":
                raise err("'~' is not allowed here", n)
            visit(n.operand, ctx)
            return
        if isinstance(n, BinOp):
            if n.op == "~":
                raise err("'~' is not allowed here", n)
            if ctx != "formula" and n.op not in _ARITHMETIC_OPS:
                where = "in the response" if ctx == "response" else "inside a function call"
                raise err(f"operator '{n.op}' is not allowed {where}", n)
            visit(n.left, ctx)
            visit(n.right, ctx)
            return
        if isinstance(n, Call):
            kind = FUNCTIONS[n.func].kind
            if kind == "cbind":
                raise err("cbind() is only allowed as the whole response", n)
            if kind == "structure":
                inner = n.args[0]
                while isinstance(inner, Paren):
                    inner = inner.expr
                if ctx != "formula" or not (isinstance(inner, BinOp) and inner.op == "|"):
                    raise err(
                        f"{n.func}() must wrap a random-effects term, e.g. {n.func}(0 + x | g)",
                        n,
                    )
                visit(inner, ctx)
                return
            if kind in ("factor", "poly", "offset") and ctx != "formula":
                raise err(f"{n.func}() is not allowed here; use it as a term of the formula", n)
            if kind == "poly" and len(n.args) == 2:
                degree = n.args[1]
                if not (
                    isinstance(degree, Num)
                    and degree.value == int(degree.value)
                    and degree.value >= 1
                ):
                    raise err("the degree of poly() must be a positive whole number", degree)
                visit(n.args[0], "arith")
                return
            if n.func == "relevel":                  # the level was checked by the parser
                visit(n.args[0], "formula" if _is_factor_call(n.args[0]) else "arith")
                return
            for arg in n.args:
                visit(arg, "arith")
            return
        raise ArgumentTypeError(f"unexpected node {n!r}")

    if context == "response":
        inner = node
        while isinstance(inner, Paren):
            inner = inner.expr
        if isinstance(inner, Call) and inner.func == "cbind":
            for arg in inner.args:
                visit(arg, "arith")
            return
        visit(node, "response")
        return
    visit(node, context)
