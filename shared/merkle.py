"""RFC 6962 (Certificate Transparency, section 2.1) Merkle trees: the commitment a round
publishes at its close over its bids' receipt leaves (trust.md section 5).

The tree is pymerkle's (byte for byte RFC 6962 / RFC 9162: leaf hash SHA-256(0x00 || d),
node SHA-256(0x01 || left || right), split at the largest power of two below n, empty
root SHA-256 of nothing); verification is the few lines of RFC 9162 section 2.1.3.2 that
a supplier's own software needs, with nothing but SHA-256.

The close needs only the root: `RootBuilder` folds leaves into it as they stream in,
holding one hash per set bit of the size (17 for 100,000 leaves), never the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pymerkle import InmemoryTree


@dataclass(frozen=True)
class Proof:
    leaf_index: int
    tree_size: int
    audit_path: list[bytes]
    root: bytes

    def to_json(self) -> dict[str, object]:
        return {"leaf_index": self.leaf_index, "tree_size": self.tree_size,
                "audit_path": [h.hex() for h in self.audit_path], "root": self.root.hex()}


class Tree:
    """A tree over `entries` (each entry `d` is hashed as a leaf: SHA-256(0x00 || d))."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self._tree = InmemoryTree(algorithm="sha256")
        for entry in entries:
            self._tree.append_entry(entry)
        self.size = len(entries)

    def root(self) -> bytes:
        if self.size == 0:
            return hashlib.sha256(b"").digest()
        root: bytes = self._tree.get_root(self.size)
        return root

    def prove(self, index: int) -> Proof:
        """The audit path of entry `index` (0-based) in the whole tree."""
        if not 0 <= index < self.size:
            raise IndexError("no such leaf")
        proof = self._tree.prove_inclusion(index + 1, self.size)
        # pymerkle's path starts with the leaf's own hash; RFC 6962's audit path does not.
        path = [bytes.fromhex(h) if isinstance(h, str) else bytes(h) for h in proof.path[1:]]
        return Proof(index, self.size, path, self.root())


class RootBuilder:
    """The RFC 6962 root of entries appended in order, in O(log n) memory.

    An RFC 6962 tree of n leaves is its perfect subtrees of the sizes of n's set bits,
    largest (leftmost) first, joined right to left: the stack keeps the root of each
    complete subtree so far, merging two of the same size as a leaf arrives."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def append(self, entry: bytes) -> None:
        stack = self._stack
        node, width = hashlib.sha256(b"\x00" + entry).digest(), 1
        while stack and stack[-1][0] == width:
            node = hashlib.sha256(b"\x01" + stack.pop()[1] + node).digest()
            width *= 2
        stack.append((width, node))
        self.size += 1

    def extend(self, entries: Iterable[bytes]) -> None:
        for entry in entries:
            self.append(entry)

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        node = self._stack[-1][1]
        for _width, left in reversed(self._stack[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return node


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def verify_inclusion(entry: bytes, leaf_index: int, tree_size: int,
                     audit_path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `audit_path` prove `entry` at `leaf_index` under
    `root` of a tree of `tree_size` entries?"""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash(entry)
    for p in audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
