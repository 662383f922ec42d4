"""Static memory allocation: pack tensors with disjoint lifetimes into shared blocks.

A ``TensorSpec`` says when a tensor is first written (``start``) and last read (``end``)
on the executor's fixed timeline of steps. ``allocate`` sweeps that timeline: a tensor
that is a view of a live input (Flatten, Reshape) shares its block; one that may overwrite an
input in place takes the input's block when the input dies at this very step and nothing else
lives there; else it takes the smallest free block that fits (best fit), else the largest
free block, grown. A block is free again once every tensor in it is dead.
Blocks are numpy ``uint8`` arrays; tensors are typed views of their block's start.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

__all__ = ["TensorSpec", "Storage", "allocate"]


@dataclass
class TensorSpec:
    key: Hashable
    shape: tuple
    dtype: Any
    start: int
    end: int
    node: int | None = None
    #: keys of tensors whose block this one may take over when they die at ``start``
    reuse: list = field(default_factory=list)
    #: keys of tensors this one is a view of (same bytes): it shares their block while they
    #: live, so a reshape costs no memory and no copy
    alias: list = field(default_factory=list)
    #: a buffer that is read but never written: zero-filled, never shared
    zero: bool = False

    @property
    def nbytes(self) -> int:
        return int(prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass
class Storage:
    arrays: dict
    block_of: dict
    blocks: list
    naive_bytes: int

    @property
    def planned_bytes(self) -> int:
        return sum(block.nbytes for block in self.blocks)


def allocate(specs: list[TensorSpec], planned: bool = True) -> Storage:
    """Assign every tensor a block (shared when ``planned``) and create the arrays."""
    assignment = _assign_shared(specs) if planned else {s.key: i for i, s in enumerate(specs)}
    sizes: dict[int, int] = {}
    zero_blocks = set()
    for spec in specs:
        block = assignment[spec.key]
        sizes[block] = max(sizes.get(block, 0), spec.nbytes)
        if spec.zero:
            zero_blocks.add(block)
    order = sorted(sizes)
    index = {b: n for n, b in enumerate(order)}
    blocks = [(np.zeros if b in zero_blocks else np.empty)(sizes[b], np.uint8) for b in order]
    arrays = {}
    for spec in specs:
        block = blocks[index[assignment[spec.key]]]
        arrays[spec.key] = block[:spec.nbytes].view(spec.dtype).reshape(spec.shape)
    block_of = {key: index[b] for key, b in assignment.items()}
    return Storage(arrays, block_of, blocks, sum(s.nbytes for s in specs))


def _assign_shared(specs: list[TensorSpec]) -> dict:
    assignment: dict = {}
    by_key = {s.key: s for s in specs}
    size: list[int] = []
    holders: list[set] = []  # keys of the live tensors in each block
    free: list[int] = []
    live: list[tuple[int, int, Hashable]] = []  # heap of (end, sequence, key)
    for seq, spec in enumerate(sorted(specs, key=lambda s: s.start)):
        while live and live[0][0] < spec.start:
            _, _, key = heapq.heappop(live)
            block = assignment[key]
            holders[block].discard(key)
            if not holders[block]:
                free.append(block)
        block = None if spec.zero else _shared_block(spec, assignment, by_key, holders)
        if block is None:
            block = _best_fit(spec.nbytes, free, size) if free and not spec.zero \
                else _new_block(size, holders)
        size[block] = max(size[block], spec.nbytes)
        holders[block].add(spec.key)
        assignment[spec.key] = block
        if not spec.zero:
            heapq.heappush(live, (spec.end, seq, spec.key))
    return assignment


def _new_block(size: list[int], holders: list) -> int:
    size.append(0)
    holders.append(set())
    return len(size) - 1


def _shared_block(spec: TensorSpec, assignment: dict, by_key: dict, holders: list) -> int | None:
    """A block this tensor can share: a view of a live input (same bytes), or an input that
    dies at this step and that the op may overwrite in place."""
    for key in spec.alias:
        block = assignment.get(key)
        if block is not None and key in holders[block] and by_key[key].nbytes == spec.nbytes:
            return block
    for key in spec.reuse:
        block = assignment.get(key)
        if block is not None and by_key[key].end == spec.start and holders[block] == {key}:
            return block
    return None


def _best_fit(nbytes: int, free: list[int], size: list[int]) -> int:
    fitting = [b for b in free if size[b] >= nbytes]
    block = min(fitting, key=lambda b: size[b]) if fitting else max(free, key=lambda b: size[b])
    free.remove(block)
    return block
