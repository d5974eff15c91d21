"""The formula grammar: a precedence-climbing parser from tokens (:mod:`.tokens`) to a syntax
tree (:mod:`.nodes`), with R's operator precedences
(``^`` > unary ``-`` > ``:`` > ``%in%`` > ``* /`` > ``+ -`` > ``| ||`` > ``~``).

Identifiers must be data columns or, when followed by ``(``, whitelisted functions
(:mod:`.functions`, with their numbers of arguments); ``relevel()``'s reference level is the
only place for a quoted string or a ``ref =`` keyword. Every refusal is a
:class:`FormulaError` pointing at the offending token. :func:`.syntax.parse_text` runs the
checks on the whole token stream first and is the entry point.
"""

from __future__ import annotations

from collections.abc import Sequence

from mixedfx.errors import did_you_mean

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
from .tokens import Token

__all__ = ["Parser", "unknown_variable_message"]


def unknown_variable_message(name: str, columns: Sequence[str]) -> str:
    """``unknown variable 'x' in formula; available columns: ...`` with a suggestion."""
    cols = [c for c in columns if isinstance(c, str)]
    shown = ", ".join(cols[:30]) + (", ..." if len(cols) > 30 else "")
    msg = f"unknown variable '{name}' in formula; available columns: {shown or '(none)'}"
    return msg + did_you_mean(name, cols)


class Parser:
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
