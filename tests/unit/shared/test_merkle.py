"""RFC 6962 trees: the Certificate Transparency reference vectors, and properties."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.merkle import RootBuilder, Tree, verify_inclusion

# RFC 6962 test inputs and the tree heads of their prefixes of size 0..8 (as published by
# google/certificate-transparency and transparency-dev/merkle).
ENTRIES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path) from the same test data.
PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]


def test_roots_of_the_reference_inputs() -> None:
    assert Tree([]).root() == hashlib.sha256(b"").digest()
    for n in range(len(ENTRIES) + 1):
        assert Tree(ENTRIES[:n]).root().hex() == ROOTS[n], n


def test_the_streamed_root_of_the_reference_inputs() -> None:
    for n in range(len(ENTRIES) + 1):
        builder = RootBuilder()
        builder.extend(ENTRIES[:n])
        assert (builder.size, builder.root().hex()) == (n, ROOTS[n]), n


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=33), max_size=300))
def test_the_streamed_root_is_the_trees_at_every_size(entries: list[bytes]) -> None:
    builder = RootBuilder()
    for entry in entries:
        builder.append(entry)
    assert builder.root() == Tree(entries).root()
    assert builder.size == len(entries)


def test_reference_audit_paths_are_produced_and_verify() -> None:
    for index, size, path in PROOFS:
        proof = Tree(ENTRIES[:size]).prove(index)
        assert [h.hex() for h in proof.audit_path] == path, (index, size)
        assert proof.root.hex() == ROOTS[size]
        assert verify_inclusion(ENTRIES[index], index, size,
                                [bytes.fromhex(h) for h in path], bytes.fromhex(ROOTS[size]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40), st.data())
def test_every_proof_verifies_and_tampering_fails(entries: list[bytes], data: st.DataObject,
                                                  ) -> None:
    tree = Tree(entries)
    root = tree.root()
    for i, entry in enumerate(entries):
        proof = tree.prove(i)
        assert proof.tree_size == len(entries) and proof.root == root
        assert verify_inclusion(entry, i, len(entries), proof.audit_path, root)
    i = data.draw(st.integers(0, len(entries) - 1))
    proof = tree.prove(i)
    other = hashlib.sha256(entries[i]).digest()
    assert not verify_inclusion(other, i, len(entries), proof.audit_path, root)
    assert not verify_inclusion(entries[i], i, len(entries), proof.audit_path,
                                hashlib.sha256(root).digest())
    if proof.audit_path:
        k = data.draw(st.integers(0, len(proof.audit_path) - 1))
        bad = list(proof.audit_path)
        bad[k] = hashlib.sha256(bad[k]).digest()
        assert not verify_inclusion(entries[i], i, len(entries), bad, root)
        assert not verify_inclusion(entries[i], i, len(entries), proof.audit_path[:-1], root)
    if len(entries) > 1 and len(set(entries)) == len(entries):
        j = (i + 1) % len(entries)
        assert not verify_inclusion(entries[i], j, len(entries), proof.audit_path, root)
