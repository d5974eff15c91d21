"""The blocks of an MMRM stacked by block size t, so that one evaluation of the criterion
and its gradient runs a few batched numpy calls per size instead of several per block.

For the blocks of size t: visit indices (b, t) and covariance group per block, the stacked
subjects' whitened rows X (n_s, t, p), y (n_s, t), each subject's block, and the start of each
block's subjects (subjects are stacked block by block, so sums per block are `reduceat`s).
Spatial structures keep each block's distance matrix (b, t, t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedfx.mmrm.design import Block


@dataclass
class SizeGroup:
    """The blocks of one size, stacked."""

    blocks: list[int]                  # positions in the design's block list
    visits: np.ndarray                 # (b, t)
    groups: np.ndarray                 # (b,)
    dist: np.ndarray | None            # (b, t, t) spatial distances
    X: np.ndarray                      # (n_s, t, p)
    y: np.ndarray                      # (n_s, t)
    owner: np.ndarray                  # (n_s,) block index within the size group
    starts: np.ndarray                 # (b,) first subject of each block
    counts: np.ndarray                 # (b,) subjects per block


def stack_blocks(blocks: list[Block]) -> list[SizeGroup]:
    """One `SizeGroup` per block size, blocks in their original order."""
    by_size: dict[int, list[int]] = {}
    for i, b in enumerate(blocks):
        by_size.setdefault(b.size, []).append(i)
    out = []
    for _, members in sorted(by_size.items()):
        bl = [blocks[i] for i in members]
        counts = np.array([b.X.shape[0] for b in bl])
        dist = np.array([b.dist for b in bl]) if bl[0].dist is not None else None
        out.append(SizeGroup(members, np.array([b.visits for b in bl]),
                             np.array([b.group for b in bl]), dist,
                             np.concatenate([b.X for b in bl]),
                             np.concatenate([b.y for b in bl]),
                             np.repeat(np.arange(len(bl)), counts),
                             np.r_[0, np.cumsum(counts)[:-1]], counts))
    return out
