"""R's printed form of a call, `lmer(formula = y ~ x + (1 | g), data = d)`, with the line
breaks `print(call)` makes (deparse's `width.cutoff` of 60).

R's deparser writes left to right and may break a line at two places: after the ", "
between the arguments of a call, and after the " op " of a spaced binary operator
(`~ | || + - * %in%`). At such a point, when the line written so far is longer than the
cutoff, it starts a new line; the first break inside an argument list or an operator
indents what follows by four spaces, until that list or operator ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from mixedfx.formula.nodes import (
    BINARY_PRECEDENCE,
    UNARY_PRECEDENCE,
    BinOp,
    Call,
    Name,
    Node,
    Num,
    Paren,
    UnaryOp,
    _needs_parens,
    deparse,
)
from mixedfx.formula.syntax import parse_text

SPACED = frozenset({"~", "|", "||", "+", "-", "*", "%in%"})
MIXED_FITTERS = frozenset({"lmer", "glmer", "glmer.nb"})
CUTOFF = 60


class _Writer:
    """deparse.c's buffer: the current line, its length and the indentation level."""

    def __init__(self, cutoff: int) -> None:
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.line = ""
        self.indent = 0
        self.start = True

    def put(self, text: str) -> None:
        if self.start:
            self.start = False
            self.line += "".join("    " if i < 4 else "  " for i in range(self.indent))
        self.line += text

    def newline(self) -> None:
        self.lines.append(self.line)
        self.line, self.start = "", True

    def linebreak(self, broke: bool) -> bool:
        """Break when the line is past the cutoff; the first break indents."""
        if len(self.line) > self.cutoff:
            if not broke:
                broke = True
                self.indent += 1
            self.newline()
        return broke


def _node(w: _Writer, node: Node) -> None:
    if isinstance(node, (Num, Name)):
        w.put(deparse(node))
    elif isinstance(node, Paren):
        w.put("(")
        _node(w, node.expr)
        w.put(")")
    elif isinstance(node, Call):
        w.put(f"{node.func}(")
        _args(w, [(None, a) for a in node.args])
        w.put(")")
    elif isinstance(node, UnaryOp):
        w.put(node.op)
        wrap = isinstance(node.operand, BinOp) and node.op != "~" and \
            BINARY_PRECEDENCE[node.operand.op] < UNARY_PRECEDENCE
        _wrapped(w, node.operand, wrap)
    elif isinstance(node, BinOp):
        prec = BINARY_PRECEDENCE[node.op]
        _wrapped(w, node.left, _needs_parens(node.left, prec, "left", node.op))
        if node.op in SPACED:
            w.put(f" {node.op} ")
            broke = w.linebreak(False)
        else:
            w.put(node.op)
            broke = False
        _wrapped(w, node.right, _needs_parens(node.right, prec, "right", node.op))
        if broke:
            w.indent -= 1
    else:
        w.put(deparse(node))


def _wrapped(w: _Writer, node: Node, parens: bool) -> None:
    if parens:
        w.put("(")
    _node(w, node)
    if parens:
        w.put(")")


def _args(w: _Writer, args: Sequence[tuple[str | None, Node | str]]) -> None:
    broke = False
    for i, (tag, value) in enumerate(args):
        if tag is not None:
            w.put(f"{tag} = ")
        if isinstance(value, str):
            w.put(value)
        else:
            _node(w, value)
        if i < len(args) - 1:
            w.put(", ")
            broke = w.linebreak(broke)
    if broke:
        w.indent -= 1


def call_lines(func: str, args: Sequence[tuple[str | None, Node | str]],
               cutoff: int = CUTOFF) -> list[str]:
    """The lines R prints for the call `func(tag = value, ...)`: values are formula trees
    (deparsed) or text written as is (`"sleepstudy"`, `"FALSE"`)."""
    w = _Writer(cutoff)
    w.put(f"{func}(")
    _args(w, args)
    w.put(")")
    w.newline()
    return w.lines


def _split_top(text: str) -> list[str]:
    """`text` split at the commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [p for p in parts if p]


def call_text_lines(text: str, columns: Sequence[str] = (), cutoff: int = CUTOFF
                    ) -> list[str]:
    """`call_lines` of a call given as one line of text, `lm(formula = y ~ x, data = d)`:
    values containing `~` are parsed as formulas (names from `columns`; in lme4's calls with
    `||` expanded as lme4 stores them), others kept."""
    func, _, rest = text.partition("(")
    if not rest.endswith(")"):
        return [text]
    args: list[tuple[str | None, Node | str]] = []
    for part in _split_top(rest[:-1]):
        tag, eq, value = part.partition(" = ")
        if not eq:
            tag, value = "", part
        node: Node | str = value
        if "~" in value:
            node = parse_text(value, columns)
            if func.strip() in MIXED_FITTERS:
                node = expand_double_verts(node)
        args.append((tag or None, node))
    return call_lines(func.strip(), args, cutoff)


def _plus_terms(node: Node) -> list[Node]:
    """The summands of a left side, `1 + Days` -> [1, Days]."""
    node = node.expr if isinstance(node, Paren) else node
    if isinstance(node, BinOp) and node.op == "+":
        return _plus_terms(node.left) + _plus_terms(node.right)
    return [node]


def _is_zero(node: Node) -> bool:
    return isinstance(node, Num) and node.value == 0


def expand_double_verts(node: Node) -> Node:
    """lme4's `expandDoubleVerts`, which rewrites the call's formula: `(x || g)` becomes
    `((1 | g) + (0 + x | g))` — the bars replace `x || g` inside its parentheses — with no
    `(1 | g)` when the left side has `0` or `- 1`."""
    if isinstance(node, Paren):
        return Paren(expand_double_verts(node.expr))
    if isinstance(node, UnaryOp):
        return UnaryOp(node.op, expand_double_verts(node.operand))
    if not isinstance(node, BinOp):
        return node
    if node.op != "||":
        return BinOp(node.op, expand_double_verts(node.left), expand_double_verts(node.right))
    terms = _plus_terms(node.left)
    no_intercept = any(_is_zero(t) for t in terms) or (
        isinstance(node.left, BinOp) and node.left.op == "-" and
        isinstance(node.left.right, Num) and node.left.right.value == 1)
    bars: list[Node] = [] if no_intercept else [Paren(BinOp("|", Num(1.0), node.right))]
    for t in terms:
        if isinstance(t, Num):
            continue
        bars.append(Paren(BinOp("|", BinOp("+", Num(0.0), t), node.right)))
    out = bars[0]
    for b in bars[1:]:
        out = BinOp("+", out, b)
    return out
