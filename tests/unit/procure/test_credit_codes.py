"""The demo's Unified Social Credit Codes are valid by GB 32100-2015 and the pool service."""

from __future__ import annotations

import random

import pytest

from pool_service.domain import validate_credit_code
from procure.credit_codes import (
    CHARSET,
    DIVISIONS,
    KIND_PREFIXES,
    check_char,
    is_valid,
    make_credit_code,
    org_code,
)
from procure.demo import SUPPLIERS


def test_check_character_of_a_published_example() -> None:
    # The example code of the national standard's explanatory material.
    assert check_char("91350100M000100Y4") == "3"
    assert is_valid("91350100M000100Y43")
    assert not is_valid("91350100M000100Y44")


def test_check_character_is_zero_when_the_sum_is_a_multiple_of_31() -> None:
    # 17 zeros sum to 0: (31 - 0 % 31) % 31 = 0, not the out-of-range 31.
    assert check_char("0" * 17) == "0"


@pytest.mark.parametrize("kind", sorted(KIND_PREFIXES))
def test_generated_codes_pass_the_pool_services_validator(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(500):
        division = rng.choice(sorted(DIVISIONS.values()))
        code = make_credit_code(kind, rng, division)
        assert validate_credit_code(code) == code
        assert code[:2] in KIND_PREFIXES[kind]
        assert code[2:8] == division
        assert set(code) <= set(CHARSET)


def test_any_single_substitution_is_detected() -> None:
    # Every weight is non-zero modulo 31, so changing one character changes the sum.
    code = make_credit_code("enterprise", random.Random(7))
    for pos in range(18):
        for ch in CHARSET:
            if ch != code[pos]:
                assert not is_valid(code[:pos] + ch + code[pos + 1:])


def test_organisation_code_carries_its_gb_11714_check_character() -> None:
    # D2143569: 13*3 + 2*7 + 1*9 + 4*10 + 3*5 + 5*8 + 6*4 + 9*2 = 199; 11 - 199 % 11 = 10 -> X
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    rng = random.Random(11)
    for _ in range(200):
        code = org_code(rng)
        total = sum((int(c) if c.isdigit() else ord(c) - 55) * w
                    for c, w in zip(code[:8], weights, strict=True))
        expected = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
        assert code[8] == expected


def test_the_same_seed_gives_the_same_code() -> None:
    assert make_credit_code("public_institution", random.Random(3)) == \
        make_credit_code("public_institution", random.Random(3))


def test_refuses_what_cannot_be_a_code() -> None:
    with pytest.raises(ValueError, match="kind"):
        make_credit_code("partnership", random.Random(1))
    with pytest.raises(ValueError, match="prefix"):
        make_credit_code("enterprise", random.Random(1), prefix="51")
    with pytest.raises(ValueError, match="6 digits"):
        make_credit_code("enterprise", random.Random(1), division="33A300")
    with pytest.raises(ValueError, match="outside"):
        check_char("91350100M000100I4")  # I is not in the charset
    assert not is_valid("91350100M000100Y4")  # 17 characters


def test_demo_suppliers_have_distinct_valid_codes_of_their_kind() -> None:
    codes = [s.credit_code() for s in SUPPLIERS]
    assert len(SUPPLIERS) >= 30
    assert len(set(codes)) == len(codes)
    for supplier, code in zip(SUPPLIERS, codes, strict=True):
        assert validate_credit_code(code) == code
        assert code[:2] in KIND_PREFIXES[supplier.kind]
    assert {s.kind for s in SUPPLIERS} == set(KIND_PREFIXES)
    assert {s.size for s in SUPPLIERS} == {"large", "medium", "small", "micro"}
