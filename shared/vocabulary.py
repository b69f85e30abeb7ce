"""Terms both services (and their events) share: who a supplier is, in domain.md's words."""

from __future__ import annotations

import enum


class SupplierKind(enum.StrEnum):
    ENTERPRISE = "enterprise"
    SOCIAL_ORGANIZATION = "social_organization"  # 社会组织: priority under equal conditions
    PUBLIC_INSTITUTION = "public_institution"  # 事业单位


class SupplierSize(enum.StrEnum):
    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"
    MICRO = "micro"


# Sizes that get a round's SME price deduction.
SME_SIZES = frozenset({SupplierSize.SMALL, SupplierSize.MICRO})
