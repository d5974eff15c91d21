"""The supernodal plan for a large, sparse Schur complement S (crossed random effects).

After the first term's diagonal block is eliminated, S = Λ_rᵀ(A_rr − B W Bᵀ)Λ_r + I holds
the other terms' random effects, X and y. For crossed factors it is large and sparse (InstEval:
1,145 rows, 20% nonzero), and a dense Cholesky of it spends most of its work on zeros. The
compiled evaluator (`mixedfx._native.lmm`, `factor_sn`) can instead build S straight in a
fill-reducing order and factor it supernode by supernode with BLAS; this module computes
that order and the supernodes once per model, from the sparsity pattern of S alone (which
does not depend on θ):

1. the pattern of S's random-effects block: the stored pair-product targets (B W Bᵀ) and the
   nonzeros of A_rr;
2. a minimum-degree order of it and the column patterns of the factor L in that order, from
   one elimination in C (`mixedfx._native.lmm.min_degree`: external degrees, mass
   elimination of nodes with equal neighbourhoods, the neighbours at each elimination being
   the rows of that column of L);
3. the elimination tree (each column's parent: its first row below the diagonal),
   postordered so that chains of columns are contiguous;
4. fundamental supernodes (a column whose only child is the previous column and whose
   pattern is that column's minus itself), then relaxed: a supernode merges with its parent
   supernode when the explicit zeros this adds are at most `RELAX` of the merged block;
5. the X and y rows last, in every supernode's rows below it.

The plan is used when its work — BLAS flops plus `SCATTER_FLOPS` per entry scattered back —
is at most `DENSE_SHARE` of a dense Cholesky's r³/3, and S has at least `MIN_ROWS` rows and
at most `MAX_DENSITY` nonzeros; otherwise the dense factorization serves. The numbers are
those of a Cholesky factor of the same S in another order: the log-determinants and pwrss
agree with the dense path to rounding.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from mixedfx.native import kernel

MIN_ROWS = 256          # below this a dense Cholesky costs well under a millisecond
MAX_ROWS = 8192         # past this the plan's Python loops and pattern copies cost too much
MAX_DENSITY = 0.3       # share of nonzeros in S's random-effects block past which it fills in
RELAX = 0.3             # share of explicit zeros a merged supernode may hold (InstEval: 0.2
                        # 67 supernodes, 1.05M scattered entries; 0.3 54 and 0.86M, 3% faster)
SCATTER_FLOPS = 30      # cost of one scattered update, in BLAS flops (measured: ~1 ns each)
DENSE_SHARE = 0.6       # use the plan when its cost is at most this share of r³/3


def postorder(parent: np.ndarray) -> np.ndarray:
    """The columns in a postorder of the elimination tree (children in increasing order)."""
    q = len(parent)
    children: list[list[int]] = [[] for _ in range(q)]
    roots = []
    for j in range(q):
        (children[parent[j]] if parent[j] >= 0 else roots).append(j)
    out: list[int] = []
    stack = [(v, False) for v in reversed(roots)]
    while stack:
        v, done = stack.pop()
        if done:
            out.append(v)
            continue
        stack.append((v, True))
        stack.extend((c, False) for c in reversed(children[v]))
    return np.array(out, dtype=np.int64)


def supernodes(parent: np.ndarray, pats: list[np.ndarray]) -> list[tuple[int, int]]:
    """Relaxed supernodes (column ranges [j0, j1)) of a postordered factor pattern."""
    q = len(parent)
    nchild = np.bincount(parent[parent >= 0], minlength=q)
    counts = np.array([len(p) for p in pats])
    fundamental = [[0, 1]]
    for j in range(1, q):
        last = j - 1
        if parent[last] == j and counts[last] == counts[j] + 1 and nchild[j] == 1:
            fundamental[-1][1] = j + 1
        else:
            fundamental.append([j, j + 1])
    entries = counts + 1                      # nonzeros of each column of L (with diagonal)
    changed = True
    current = fundamental
    while changed:
        changed = False
        merged: list[list[int]] = []
        i = 0
        while i < len(current):
            j0, j1 = current[i]
            if i + 1 < len(current) and parent[j1 - 1] == current[i + 1][0]:
                k1 = current[i + 1][1]
                below = len(pats[k1 - 1]) + 0         # the parent's last column's pattern
                w = k1 - j0
                total = w * (w + 1) / 2 + w * below
                if (total - entries[j0:k1].sum()) <= RELAX * total:
                    merged.append([j0, k1])
                    i += 2
                    changed = True
                    continue
            merged.append([j0, j1])
            i += 1
        current = merged
    return [(a, b) for a, b in current]


def plan(targets: np.ndarray, Arr: np.ndarray, q: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(new index of each row of S, supernode column starts, row pointers, rows below each
    supernode) for `set_order`, or None when a dense Cholesky is expected to be as fast."""
    r = Arr.shape[0]
    # the targets hold every upper nonzero of B W Bᵀ: past MAX_DENSITY no pattern is built
    # (G's 5,000 rows and 6.8M targets would cost seconds and a dense copy of A_rr)
    if r < MIN_ROWS or q < 2 or q > MAX_ROWS or len(targets) > MAX_DENSITY * q * q / 2:
        return None
    mod = kernel("lmm")
    if mod is None:
        return None
    found = mod.min_degree(np.asarray(targets, dtype=np.int64), np.ascontiguousarray(Arr), q,
                           int(MAX_DENSITY * q * q), DENSE_SHARE * r ** 3 / 3)
    if found is None:
        return None
    order = np.frombuffer(found[0], dtype=np.int64)
    col_ptr = np.frombuffer(found[1], dtype=np.int64)
    col_rows = np.frombuffer(found[2], dtype=np.int32)
    parent = np.full(q, -1, dtype=np.int64)         # each column's first row below it
    has = col_ptr[1:] > col_ptr[:-1]
    parent[has] = col_rows[col_ptr[:-1][has]]
    # relabel in a postorder (the same elimination, so the same patterns and tree):
    # position[j] is the new label of column j of the minimum-degree order; the patterns
    # stay unsorted (only their lengths and the tree are read below)
    post = postorder(parent)
    position = np.empty(q, dtype=np.int64)
    position[post] = np.arange(q)
    order = order[post]
    parent = np.where(parent[post] >= 0, position[parent[post]], -1)
    rows_new = position[col_rows]
    pats = [rows_new[col_ptr[j]:col_ptr[j + 1]] for j in post]
    blocks = supernodes(parent, pats)
    xy = np.arange(q, r, dtype=np.int32)
    rows = []
    mark = np.zeros(q, dtype=bool)
    for j0, j1 in blocks:                   # the rows below a supernode: its columns' rows
        mark[np.concatenate(pats[j0:j1])] = True
        rows.append(np.concatenate([np.flatnonzero(mark[j1:]).astype(np.int32) + j1, xy]))
        mark[:] = False
    ptr, flops, scatter = [0], 0.0, 0.0
    for (j0, j1), below in zip(blocks, rows, strict=True):
        w, m = j1 - j0, len(below)
        flops += w ** 3 / 3 + w * w * m + m * m * w
        scatter += m * m / 2
        ptr.append(ptr[-1] + m)
    w = r - q                                  # the X and y rows: one last dense supernode
    flops += w ** 3 / 3
    if flops + SCATTER_FLOPS * scatter > DENSE_SHARE * r ** 3 / 3:
        return None
    rows.append(np.empty(0, dtype=np.int32))
    ptr.append(ptr[-1])
    new_index = np.arange(r, dtype=np.int64)
    new_index[order] = np.arange(q)
    starts = np.array([b[0] for b in blocks] + [q, r], dtype=np.int64)
    return new_index, starts, np.array(ptr, dtype=np.int64), np.concatenate(rows)


def bind(mod: Any) -> None:
    """Hand SciPy's dpotrf, dtrsm and dsyrk to the kernel (the capsules of its Cython
    interface, loaded here: scipy.linalg.cython_lapack costs ~10 ms at import and only a
    model with a supernodal plan needs it)."""
    lapack = importlib.import_module("scipy.linalg.cython_lapack").__pyx_capi__
    blas = importlib.import_module("scipy.linalg.cython_blas").__pyx_capi__
    mod.bind_blas(lapack["dpotrf"], blas["dtrsm"], blas["dsyrk"])


def attach(ev: Any, mod: Any, gram: tuple, Arr: np.ndarray, q: int,
           scalar_rest: bool) -> bool:
    """Give the evaluator a supernodal plan when its S is built from pair rows with scalar
    terms past the first and the plan pays; returns whether it did."""
    if gram[0] != "pair_rows" or not scalar_rest:
        return False
    p = plan(gram[4], Arr, q)
    if p is None:
        return False
    bind(mod)
    ev.set_order(*p)
    return True
