"""Valid Unified Social Credit Codes (统一社会信用代码, GB 32100-2015) for demo suppliers.

A code is: registration department (1) + organisation type (1) + administrative
division (6) + organisation code (9, itself GB 11714 with its own check character)
+ check character (1) over the first 17.
"""

from __future__ import annotations

import random

from pool_service.domain import CREDIT_CODE_CHARSET, credit_code_check_char

CHARSET = CREDIT_CODE_CHARSET

# GB 11714-1997 organisation code: 8 body characters and a check character.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = "0123456789" * 3 + "ABCDEFGHJKLMNPQRTUWXY"  # mostly digits, as real codes are

# Department + type prefix for each supplier kind (the first two characters).
KIND_PREFIXES: dict[str, tuple[str, ...]] = {
    "enterprise": ("91",),                      # 工商 / enterprise
    "social_organization": ("51", "52", "53"),  # 民政 / social group, private non-enterprise
                                                # unit, foundation
    "public_institution": ("12",),              # 机构编制 / public institution
}

# Administrative divisions (GB/T 2260) around Wenzhou and a few other cities.
WENZHOU = "330300"
DIVISIONS: dict[str, str] = {
    "温州市": WENZHOU, "鹿城区": "330302", "龙湾区": "330303", "瓯海区": "330304",
    "洞头区": "330305", "永嘉县": "330324", "平阳县": "330326", "苍南县": "330327",
    "文成县": "330328", "泰顺县": "330329", "瑞安市": "330381", "乐清市": "330382",
    "浙江省": "330000", "杭州市": "330100", "宁波市": "330200", "上海市": "310000",
    "北京市": "110000",
}


def check_char(first17: str) -> str:
    """The 18th character: (31 - sum(value x weight) % 31) % 31 over the first 17 (the
    pool service's own rule, so the codes made here are the codes it accepts)."""
    if any(ch not in CHARSET for ch in first17):
        raise ValueError(f"{first17!r} has characters outside {CHARSET}")
    return credit_code_check_char(first17)


def is_valid(code: str) -> bool:
    """Charset, length and check character (not the department/type table)."""
    return (len(code) == 18 and all(ch in CHARSET for ch in code)
            and check_char(code[:17]) == code[17])


def org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code: 8 characters and their check character."""
    body = "".join(rng.choice(_ORG_BODY) for _ in range(8))
    total = sum(_org_value(ch) * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def make_credit_code(kind: str, rng: random.Random, division: str = WENZHOU,
                     prefix: str | None = None) -> str:
    """A valid code for a supplier of `kind` registered in `division` (6 digits);
    `prefix` picks the department and type (e.g. "52") among those of the kind."""
    prefixes = KIND_PREFIXES.get(kind)
    if prefixes is None:
        raise ValueError(f"unknown supplier kind {kind!r}")
    if prefix is not None and prefix not in prefixes:
        raise ValueError(f"{prefix!r} is not a registration prefix of a {kind}")
    if len(division) != 6 or not division.isdigit():
        raise ValueError("an administrative division code has 6 digits")
    first17 = (prefix or rng.choice(prefixes)) + division + org_code(rng)
    return first17 + check_char(first17)
