"""R's ``terms.formula()`` for a (bar-free) right-hand side.

A *variable* is any expression that is not formula structure: a column, ``log(x)``,
``I(age^2)``, ``poly(x, 2)``.  A *term* is a set of variables.  This module
expands the formula operators exactly as R's C code does (``EncodeVars``):

* ``a + b``  union (duplicates removed, first occurrence kept)
* ``a - b``  removes ``b``'s terms; ``- 1`` / ``+ 0`` drop the intercept
* ``a:b``    every pairwise union; ``a %in% b`` each term of ``a`` with all of ``b``
* ``a * b``  ``a + b + a:b``;  ``a / b``  ``a + (all of a):b``;  ``(a + b)^2``
* numbers other than 0 and 1 are invalid; ``offset()`` is not a term

Variables are numbered in order of first appearance; a term's label joins its
variables in that order (``y ~ a + b:a`` has label ``a:b``).  Terms are then
sorted by their number of variables, keeping formula order within each degree.

:func:`term_codes` reproduces R's ``TermCode``: for each variable of a term,
1 (code it by contrasts) when the term without that variable is empty or is
contained in an earlier term, 2 (full indicator coding) otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mixedfx.errors import ArgumentTypeError

from .errors import FormulaError
from .functions import FUNCTIONS
from .nodes import BinOp, Call, Name, Node, Num, Paren, UnaryOp, deparse

__all__ = ["TermsInfo", "expand_terms", "term_codes"]

Term = frozenset[int]


@dataclass(frozen=True)
class TermsInfo:
    """The expanded right-hand side.

    Attributes:
        variables: distinct variable expressions, in order of first appearance.
        variable_labels: R's deparsed text of each variable.
        intercept: whether the model has an intercept.
        terms: each term as a sorted tuple of variable indices, in R's term order.
        term_labels: R's term labels (``"a:b"``), aligned with ``terms``.
        offsets: the expressions inside ``offset(...)`` calls.
    """

    variables: tuple[Node, ...]
    variable_labels: tuple[str, ...]
    intercept: bool
    terms: tuple[tuple[int, ...], ...]
    term_labels: tuple[str, ...]
    offsets: tuple[Node, ...]


_FORMULA_OPS = frozenset({"+", "-", "*", "/", ":", "%in%", "^"})


MAX_TERMS = 2_000   # terms an expansion such as a*b*c*... may produce


def _trim(terms: list[Term]) -> list[Term]:
    return list(dict.fromkeys(t for t in terms if t))


class _Encoder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.variables: list[Node] = []
        self.labels: list[str] = []
        self.offsets: list[Node] = []
        self.intercept = True
        self.parity = True

    def err(self, reason: str, node: Node) -> FormulaError:
        return FormulaError(reason, self.text, node.start, node.end)

    # ExtractVars: number the variables in order of appearance.
    def collect(self, node: Node) -> None:
        if isinstance(node, Paren):
            self.collect(node.expr)
        elif isinstance(node, Num):
            return
        elif isinstance(node, UnaryOp):
            if node.op == "~":
                raise self.err("'~' is not allowed here", node)
            self.collect(node.operand)
        elif isinstance(node, BinOp):
            if node.op in ("|", "||"):
                raise self.err("random-effects terms (with '|') are not allowed here", node)
            if node.op == "~":
                raise self.err("'~' is not allowed here", node)
            self.collect(node.left)
            if node.op != "^":
                self.collect(node.right)
        elif isinstance(node, Call) and FUNCTIONS[node.func].kind == "offset":
            self.offsets.append(node.args[0])
        elif isinstance(node, Call) and FUNCTIONS[node.func].kind == "cbind":
            raise self.err("cbind() is only allowed as the whole response", node)
        elif isinstance(node, (Name, Call)):
            label = deparse(node)
            if label not in self.labels:
                self.labels.append(label)
                self.variables.append(node)
        else:  # pragma: no cover - defensive
            raise ArgumentTypeError(f"unexpected node {node!r}")

    # EncodeVars
    def encode(self, node: Node) -> list[Term]:
        if isinstance(node, Paren):
            return self.encode(node.expr)
        if isinstance(node, Num):
            if node.value == 1:
                self.intercept = self.parity
                return []
            if node.value == 0:
                self.intercept = not self.parity
                return []
            raise self.err(
                f"invalid model term '{deparse(node)}' (only 0 and 1 may appear as numbers)",
                node,
            )
        if isinstance(node, Call) and FUNCTIONS[node.func].kind == "offset":
            return []
        if isinstance(node, (Name, Call)):
            return [frozenset({self.labels.index(deparse(node))})]
        if isinstance(node, UnaryOp):
            if node.op == "+":
                return self.encode(node.operand)
            return self.delete([], node.operand)
        if isinstance(node, BinOp) and node.op in _FORMULA_OPS:
            if node.op == "-":
                return self.delete(self.encode(node.left), node.right)
            if node.op == "^":
                return self.power(node)
            left = self.encode(node.left)
            right = self.encode(node.right)
            if node.op in (":", "*") and len(left) * len(right) > MAX_TERMS:
                raise self.err(f"formula too long: '{node.op}' here would expand to more than "
                               f"{MAX_TERMS:,} terms ({len(left)} x {len(right)})", node)
            if node.op == "+":
                return _trim(left + right)
            if node.op == ":":
                return _trim([a | b for a in left for b in right])
            if node.op == "*":
                return _trim(left + right + [a | b for a in left for b in right])
            if node.op == "%in%":
                allr = frozenset().union(*right) if right else frozenset()
                return _trim([a | allr for a in left])
            if node.op == "/":
                alll = frozenset().union(*left) if left else frozenset()
                return _trim(left + [alll | b for b in right])
        raise self.err(f"invalid model formula term '{deparse(node)}'", node)

    def delete(self, left: list[Term], right_node: Node) -> list[Term]:
        self.parity = not self.parity
        right = self.encode(right_node)
        self.parity = not self.parity
        return [t for t in left if t not in right]

    def power(self, node: BinOp) -> list[Term]:
        exponent = node.right
        while isinstance(exponent, Paren):
            exponent = exponent.expr
        if not (
            isinstance(exponent, Num)
            and math.isfinite(exponent.value)
            and exponent.value == int(exponent.value)
            and exponent.value >= 1
        ):
            raise self.err("invalid power in formula (use a positive whole number)", node.right)
        left = self.encode(node.left)
        right = left
        # (a + b + ...)^k stops growing once k reaches the number of terms: stop there too
        # (a huge k such as 1e300 would otherwise loop for ever)
        for _ in range(min(int(exponent.value), len(left) + 1) - 1):
            if len(left) * len(right) > MAX_TERMS:
                raise self.err(f"formula too long: the power would expand to more than "
                               f"{MAX_TERMS:,} terms", node)
            right = _trim([a | b for a in left for b in right])
        return right


def expand_terms(rhs: Node, text: str) -> TermsInfo:
    """Expand a bar-free right-hand side into R's intercept, variables and terms."""
    enc = _Encoder(text)
    enc.collect(rhs)
    terms = enc.encode(rhs)
    ordered = sorted(terms, key=len)  # stable: formula order within a degree
    as_tuples = tuple(tuple(sorted(t)) for t in ordered)
    labels = tuple(":".join(enc.labels[i] for i in t) for t in as_tuples)
    return TermsInfo(
        variables=tuple(enc.variables),
        variable_labels=tuple(enc.labels),
        intercept=enc.intercept,
        terms=as_tuples,
        term_labels=labels,
        offsets=tuple(enc.offsets),
    )


def term_codes(terms: tuple[tuple[int, ...], ...]) -> list[dict[int, int]]:
    """R's ``TermCode`` for each variable of each term (1 = contrasts, 2 = indicators).

    R's adjustment for models without an intercept (the first factor of the first
    term containing a factor gets indicators) depends on which variables are
    factors and is applied by the design builder.
    """
    sets = [frozenset(t) for t in terms]
    codes: list[dict[int, int]] = []
    for k, term in enumerate(sets):
        term_code: dict[int, int] = {}
        for var in terms[k]:
            rest = term - {var}
            if not rest or any(rest <= sets[j] for j in range(k)):
                term_code[var] = 1
            else:
                term_code[var] = 2
        codes.append(term_code)
    return codes
