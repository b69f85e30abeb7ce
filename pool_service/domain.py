"""The pool service's rules: credit codes, pool validity, the membership state machine.

Pure: no I/O, no framework imports. Times come in as arguments (the database clock
decides), so every rule here can be tested with plain values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from shared.errors import Conflict, Invalid
from shared.errors import DomainError as DomainError
from shared.vocabulary import SupplierKind as SupplierKind
from shared.vocabulary import SupplierSize as SupplierSize

MAX_VALIDITY_YEARS = 2
TOP_UP_THRESHOLD = Decimal("0.7")
MAX_SUSPENSION = timedelta(days=3 * 365 + 1)


class RuleViolation(Invalid):
    """The content of a command breaks a rule (an answer of 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, [{"loc": [field], "msg": message}], slug="rule-violation")
        self.field = field
        self.message = message


class IllegalTransition(Conflict):
    """The command is not allowed in the current state (an answer of 409)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, slug="illegal-transition")


# ---------------------------------------------------------------- enums


class PoolCategory(enum.StrEnum):
    PUBLIC_SERVICE = "public_service"
    GOVERNMENT_SUPPORT = "government_support"


class PoolStatus(enum.StrEnum):
    UPCOMING = "upcoming"  # before valid_from: members may apply, no rounds yet
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class MembershipStatus(enum.StrEnum):
    APPLIED = "applied"
    ADMITTED = "admitted"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REMOVED = "removed"


class RemovalGround(enum.StrEnum):
    """Order 110's grounds for cancelling an admission."""

    COLLUSION = "collusion"
    FALSE_DOCUMENTS = "false_documents"
    REFUSED_AWARD = "refused_award"
    DEBARRED = "debarred"
    POOR_PERFORMANCE = "poor_performance"
    OTHER = "other"


# ---------------------------------------------------------------- credit codes

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 32100-2015 table: registration department (1st character) -> organisation types
# it may issue (2nd character).
REGISTRATION_DEPARTMENTS: dict[str, str] = {
    "1": "1239",    # 机构编制: organs, public institutions, mass organisations, other
    "2": "19",      # 外交
    "3": "123459",  # 司法行政: law firms, notaries, legal services, forensic, arbitration
    "4": "19",      # 文化
    "5": "1239",    # 民政: social groups, private non-enterprise units, foundations
    "6": "129",     # 旅游
    "7": "129",     # 宗教
    "8": "19",      # 工会
    "9": "123",     # 工商: enterprises, individual businesses, farmers' cooperatives
    "A": "19",      # 中央军委改革和编制办公室
    "N": "1239",    # 农业
    "Y": "1",       # 其他
}


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a code."""
    if len(first17) != 17:
        raise ValueError("the check character is computed over 17 characters")
    total = sum(CREDIT_CODE_CHARSET.index(ch) * w
                for ch, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    check = 31 - total % 31
    return CREDIT_CODE_CHARSET[0 if check == 31 else check]


def validate_credit_code(value: str) -> str:
    """The code in canonical (upper-case) form, or ValueError saying what is wrong."""
    code = value.strip().upper()
    if len(code) != 18:
        raise ValueError("a Unified Social Credit Code has 18 characters")
    bad = sorted({ch for ch in code if ch not in CREDIT_CODE_CHARSET})
    if bad:
        raise ValueError(f"a Unified Social Credit Code may not contain {''.join(bad)!r} "
                         "(allowed: digits and upper-case letters except I, O, S, V, Z)")
    types = REGISTRATION_DEPARTMENTS.get(code[0])
    if types is None:
        raise ValueError(f"{code[0]!r} is not a registration department code")
    if code[1] not in types:
        raise ValueError(f"{code[1]!r} is not an organisation type of department {code[0]!r}")
    if not code[2:8].isdigit():
        raise ValueError("characters 3 to 8 must be an administrative division code")
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValueError("the check character (the 18th) does not match")
    return code


# ---------------------------------------------------------------- pools


def add_years(day: date, years: int) -> date:
    """`day` moved by whole years; 29 February becomes 28 February when needed."""
    if day.month == 2 and day.day == 29:
        day = day.replace(day=28)
    return day.replace(year=day.year + years)


def check_validity(valid_from: date, valid_to: date) -> None:
    """valid_to after valid_from, and the period (both days included) at most 2 years."""
    if valid_to <= valid_from:
        raise RuleViolation("valid_to", "valid_to must be after valid_from")
    if valid_from.year + MAX_VALIDITY_YEARS > date.max.year:
        raise RuleViolation("valid_from", "valid_from is too far in the future")
    if valid_to >= add_years(valid_from, MAX_VALIDITY_YEARS):
        raise RuleViolation(
            "valid_to", f"a pool is valid for at most {MAX_VALIDITY_YEARS} years "
            f"(Order 110): valid_to must be before {add_years(valid_from, MAX_VALIDITY_YEARS)}")


def check_amounts(price_ceiling: Decimal, max_round_budget: Decimal) -> None:
    if price_ceiling <= 0:
        raise RuleViolation("price_ceiling", "price_ceiling must be greater than 0")
    if max_round_budget <= 0:
        raise RuleViolation("max_round_budget", "max_round_budget must be greater than 0")


def pool_status(valid_from: date, valid_to: date, terminated: bool, today: date) -> PoolStatus:
    """Derived, never stored: termination wins, then the validity period (days inclusive)."""
    if terminated:
        return PoolStatus.TERMINATED
    if today > valid_to:
        return PoolStatus.EXPIRED
    if today < valid_from:
        return PoolStatus.UPCOMING
    return PoolStatus.ACTIVE


def needs_top_up(admitted_count: int, peak_admitted_count: int) -> bool:
    """Order 110's top-up condition: fewer admitted than 70% of the peak."""
    return admitted_count < TOP_UP_THRESHOLD * peak_admitted_count


def check_accepts_members(status: PoolStatus) -> None:
    """Applications and admissions need a pool that is (or will be) in force."""
    if status in (PoolStatus.TERMINATED, PoolStatus.EXPIRED):
        raise IllegalTransition(f"the pool is {status.value}: it takes no new members")


# ---------------------------------------------------------------- memberships


class Action(enum.StrEnum):
    """What happened to a membership; also the event name `pool.member.<action>`."""

    APPLIED = "applied"
    ADMITTED = "admitted"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    REMOVED = "removed"

    @property
    def event_type(self) -> str:
        return f"pool.member.{self.value}"


_S = MembershipStatus
# (from, to) -> action. `None` is "(none)": no membership yet. A rejected supplier may
# apply again (or be admitted directly); removal is terminal.
TRANSITIONS: dict[tuple[MembershipStatus | None, MembershipStatus], Action] = {
    (None, _S.APPLIED): Action.APPLIED,
    (None, _S.ADMITTED): Action.ADMITTED,
    (_S.REJECTED, _S.APPLIED): Action.APPLIED,
    (_S.REJECTED, _S.ADMITTED): Action.ADMITTED,
    (_S.APPLIED, _S.ADMITTED): Action.ADMITTED,
    (_S.APPLIED, _S.REJECTED): Action.REJECTED,
    (_S.ADMITTED, _S.SUSPENDED): Action.SUSPENDED,
    (_S.SUSPENDED, _S.ADMITTED): Action.REINSTATED,
    (_S.ADMITTED, _S.REMOVED): Action.REMOVED,
    (_S.SUSPENDED, _S.REMOVED): Action.REMOVED,
}
_NEEDS_REASON = {Action.REJECTED, Action.SUSPENDED, Action.REMOVED}


@dataclass(frozen=True)
class Transition:
    """A legal change of a membership, ready to be stored and announced."""

    action: Action
    from_status: MembershipStatus | None
    to_status: MembershipStatus
    reason: str | None
    ground: RemovalGround | None
    until: datetime | None

    @property
    def admitted_delta(self) -> int:
        """How the pool's admitted count changes."""
        was = self.from_status is MembershipStatus.ADMITTED
        now = self.to_status is MembershipStatus.ADMITTED
        return int(now) - int(was)


def transition(current: MembershipStatus | None, to: MembershipStatus, *, now: datetime,
               reason: str | None = None, ground: RemovalGround | None = None,
               until: datetime | None = None) -> Transition:
    """The transition from `current` to `to`, or a DomainError saying why not."""
    action = TRANSITIONS.get((current, to))
    if action is None:
        if current is MembershipStatus.REMOVED:
            raise IllegalTransition("the supplier was removed from this pool; removal is final")
        if current is None:
            raise IllegalTransition(f"the supplier is not a member; it cannot become {to.value}")
        raise IllegalTransition(f"a membership cannot go from {current.value} to {to.value}")
    reason = reason.strip() if reason is not None else None
    if action in _NEEDS_REASON and not reason:
        raise RuleViolation("reason", f"a reason is required to {_verb(action)} a member")
    if action is Action.REMOVED:
        if ground is None:
            raise RuleViolation("ground", "removal needs a ground: "
                                + ", ".join(g.value for g in RemovalGround))
    elif ground is not None:
        raise RuleViolation("ground", "a ground is given only for removal")
    if until is not None:
        if action is not Action.SUSPENDED:
            raise RuleViolation("until", "until is given only for a suspension")
        if until <= now:
            raise RuleViolation("until", "until must be in the future")
        if until - now > MAX_SUSPENSION:
            raise RuleViolation("until", "a suspension lasts at most 3 years (the longest "
                                "procurement ban of the Government Procurement Law, Art. 77); "
                                "remove the member instead")
    return Transition(action, current, to, reason or None, ground, until)


def _verb(action: Action) -> str:
    return {Action.REJECTED: "reject", Action.SUSPENDED: "suspend",
            Action.REMOVED: "remove"}.get(action, action.value)
