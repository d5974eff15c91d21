"""Parse formula text into a syntax tree and check where each construct may appear.

:func:`parse_text` tokenizes (see :mod:`.tokens`), checks parentheses and ``~``,
and runs a precedence-climbing parser with R's operator precedences
(``^`` > unary ``-`` > ``:`` > ``%in%`` > ``* /`` > ``+ -`` > ``| ||`` > ``~``).
Identifiers must be data columns or, when followed by ``(``, whitelisted functions.

:func:`check_context` then enforces where things may appear: formula operators
(``: * / ^ | ||``) only in the formula structure, ordinary arithmetic inside
function calls, ``cbind()`` only as the whole response, ``poly()``/``factor()``
only as variables of the formula.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from mixedfx.errors import ArgumentTypeError, did_you_mean

from .errors import FormulaError
from .functions import FUNCTIONS, allowed_function_list
from .nodes import (
    BINARY_PRECEDENCE,
    RIGHT_ASSOCIATIVE,
    UNARY_PRECEDENCE,
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

__all__ = ["check_context", "parse_text", "unknown_variable_message"]

_ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "^"})


def unknown_variable_message(name: str, columns: Sequence[str]) -> str:
    """``unknown variable 'x' in formula; available columns: ...`` with a suggestion."""
    cols = [c for c in columns if isinstance(c, str)]
    shown = ", ".join(cols[:30]) + (", ..." if len(cols) > 30 else "")
    msg = f"unknown variable '{name}' in formula; available columns: {shown or '(none)'}"
    return msg + did_you_mean(name, cols)


class _Parser:
    def __init__(self, text: str, tokens: list[Token], columns: Sequence[str]) -> None:
        self.text = text
        self.tokens = tokens
        self.columns = columns
        self.pos = 0

    # -- helpers ---------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def _wraps_bar(self) -> bool:
        """Whether the parenthesized argument starting at the current token (just after a
        function's '(') holds a '|' at its own nesting level: `name(x | g)`."""
        depth = 0
        for tok in self.tokens[self.pos:]:
            if tok.kind == "(":
                depth += 1
            elif tok.kind == ")":
                if depth == 0:
                    return False
                depth -= 1
            elif tok.kind == "EOF":
                return False
            elif depth == 0 and tok.value in ("|", "||"):
                return True
        return False

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, reason: str, tok: Token) -> FormulaError:
        return FormulaError(reason, self.text, tok.start, max(tok.end, tok.start + 1))

    @staticmethod
    def describe(tok: Token) -> str:
        return "end of formula" if tok.kind == "EOF" else f"'{tok.value}'"

    # -- grammar ---------------------------------------------------------------
    def expression(self, min_prec: int = 0) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "OP":
                break
            prec = BINARY_PRECEDENCE[tok.value]
            if prec < min_prec:
                break
            self.advance()
            next_min = prec if tok.value in RIGHT_ASSOCIATIVE else prec + 1
            right = self.operand(tok, next_min)
            left = BinOp(
                tok.value, left, right, start=left.start, end=right.end, op_start=tok.start
            )
        return left

    def operand(self, op_tok: Token, min_prec: int) -> Node:
        nxt = self.peek()
        missing = nxt.kind in ("EOF", ")", ",") or (
            nxt.kind == "OP" and nxt.value not in ("-", "+", "~")
        )
        if missing:
            if op_tok.value in ("|", "||"):
                raise self.error(f"empty right side of '{op_tok.value}'", op_tok)
            raise self.error(f"missing right operand of '{op_tok.value}'", op_tok)
        return self.expression(min_prec)

    def prefix(self) -> Node:
        tok = self.peek()
        if tok.kind == "NUMBER":
            self.advance()
            return Num(float(tok.value), start=tok.start, end=tok.end)
        if tok.kind == "NAME":
            if self.peek(1).kind == "(" and not tok.backticked:
                return self.call()
            self.advance()
            if tok.is_column:
                return Name(tok.value, start=tok.start, end=tok.end)
            if tok.value == ".":
                raise self.error("'.' (all other columns) may only appear on the right of "
                                 "'~', with a plain column as the response", tok)
            raise self.error(unknown_variable_message(tok.value, self.columns), tok)
        if tok.kind == "(":
            self.advance()
            if self.peek().kind == ")":
                raise self.error("empty parentheses '()'", tok)
            inner = self.expression()
            close = self.peek()
            if close.kind != ")":
                raise self.error(f"unexpected {self.describe(close)}", close)
            self.advance()
            return Paren(inner, start=tok.start, end=close.end)
        if tok.kind == "OP":
            if tok.value in ("-", "+"):
                self.advance()
                operand = self.operand(tok, UNARY_PRECEDENCE)
                return UnaryOp(tok.value, operand, start=tok.start, end=operand.end)
            if tok.value == "~":
                self.advance()
                operand = self.operand(tok, BINARY_PRECEDENCE["~"] + 1)
                return UnaryOp("~", operand, start=tok.start, end=operand.end)
            if tok.value in ("|", "||"):
                raise self.error(f"empty left side of '{tok.value}'", tok)
            raise self.error(f"missing left operand of '{tok.value}'", tok)
        if tok.kind == "EOF":
            raise self.error("unexpected end of formula", tok)
        raise self.error(f"unexpected {self.describe(tok)}", tok)

    def call(self) -> Node:
        name_tok = self.advance()
        open_tok = self.advance()
        spec = FUNCTIONS.get(name_tok.value)
        if spec is None and self._wraps_bar():
            structures = ", ".join(n for n, f in FUNCTIONS.items() if f.kind == "structure")
            raise self.error(
                f"unknown covariance structure '{name_tok.value}' around a random-effects "
                f"term; available structures: {structures}",
                name_tok,
            )
        if spec is None:
            raise self.error(
                f"unknown function '{name_tok.value}' in formula; allowed functions: "
                f"{allowed_function_list()}",
                name_tok,
            )
        args: list[Node] = []
        if self.peek().kind == ")":
            raise self.error(f"{name_tok.value}() needs an argument", open_tok)
        while True:
            if self.peek().kind in (",", ")"):
                raise self.error(f"empty argument in {name_tok.value}()", self.peek())
            args.append(self.relevel_ref() if self.peek().kind == "STRING" or
                        self.peek(1).kind == "=" else self.expression())
            tok = self.peek()
            if tok.kind == ",":
                self.advance()
                continue
            if tok.kind == ")":
                close = self.advance()
                break
            raise self.error(f"unexpected {self.describe(tok)}", tok)
        if not spec.min_args <= len(args) <= spec.max_args:
            if spec.min_args == spec.max_args:
                want = f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
            else:
                want = f"{spec.min_args} to {spec.max_args} arguments"
            raise FormulaError(
                f"{spec.name}() takes {want}, got {len(args)}",
                self.text,
                name_tok.start,
                close.end,
            )
        if spec.name == "relevel":
            self._check_relevel(args, name_tok, close)
        return Call(spec.name, tuple(args), start=name_tok.start, end=close.end)

    def relevel_ref(self) -> Node:
        """relevel()'s reference level: "b" or ref = "b" (the tokenizer admits strings and
        '=' only there)."""
        tok = self.advance()
        if tok.kind == "STRING":
            return Str(tok.value, start=tok.start, end=tok.end)
        self.advance()                                   # '='
        value = self.peek()
        if value.kind == "STRING":
            self.advance()
            inner: Node = Str(value.value, start=value.start, end=value.end)
        else:
            inner = self.expression()
        return Kw(tok.value, inner, start=tok.start, end=inner.end)

    def _check_relevel(self, args: list[Node], name_tok: Token, close: Token) -> None:
        ref = args[1].value if isinstance(args[1], Kw) else args[1]
        whole = isinstance(ref, Num) and ref.value == int(ref.value) and ref.value >= 1
        if isinstance(args[0], (Str, Kw)) or not (isinstance(ref, Str) or whole):
            raise FormulaError('relevel() takes a factor and its reference level: '
                               'relevel(f, "b") or relevel(f, ref = "b")', self.text,
                               name_tok.start, close.end)


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
    parser = _Parser(text, tokens, cols)
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
