"""The seed catalogue: the pools a Wenzhou-style procurement center keeps.

`python -m pool_service seed` inserts the pools whose code is not there yet and emits
`pool.created` for those only, so running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import structlog

from pool_service import repository as repo
from pool_service import service
from pool_service.domain import PoolCategory
from pool_service.service import SOURCE, Actor, CreatePool
from pool_service.settings import PoolSettings
from shared.db import create_pool
from shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

SEEDER = Actor("seed", "system")
PUBLIC = PoolCategory.PUBLIC_SERVICE
SUPPORT = PoolCategory.GOVERNMENT_SUPPORT
CITY = "温州市"


@dataclass(frozen=True)
class SeedPool:
    code: str
    name: str
    gloss: str
    category: PoolCategory
    price_ceiling: str
    max_round_budget: str
    jurisdiction: str = CITY


CATALOGUE: tuple[SeedPool, ...] = (
    # Government-support services (政府履职辅助性服务类).
    SeedPool("overseas-study-trips", "出国考察学习",
             "Overseas study trips: organising official delegations' study visits abroad",
             SUPPORT, "400000.00", "1000000.00"),
    SeedPool("conference-services", "会议服务",
             "Conference services: venues, logistics and catering for official meetings",
             SUPPORT, "300000.00", "1000000.00"),
    SeedPool("printing-services", "印刷服务",
             "Printing: documents, reports, brochures and forms", SUPPORT,
             "200000.00", "500000.00"),
    SeedPool("property-management", "物业管理服务",
             "Property management of government office buildings", SUPPORT,
             "1500000.00", "3000000.00"),
    SeedPool("audit-services", "审计服务",
             "Audit: financial audits, final-accounts and special audits", SUPPORT,
             "500000.00", "1000000.00"),
    SeedPool("legal-advisory", "法律顾问服务",
             "Legal advice: standing counsel to government departments", SUPPORT,
             "200000.00", "500000.00"),
    SeedPool("asset-valuation", "资产评估服务",
             "Asset valuation of state-owned assets", SUPPORT, "300000.00", "800000.00"),
    SeedPool("it-operations", "信息系统运维服务",
             "IT operations and maintenance of e-government systems", SUPPORT,
             "800000.00", "2000000.00"),
    SeedPool("vehicle-maintenance", "公务车辆维修服务",
             "Official vehicle maintenance and repair", SUPPORT, "100000.00", "300000.00"),
    SeedPool("engineering-cost-consulting", "工程造价咨询服务",
             "Engineering cost consulting: budgets and settlement reviews", SUPPORT,
             "400000.00", "1000000.00"),
    SeedPool("cadre-training", "干部教育培训服务",
             "Civil servant training courses", SUPPORT, "300000.00", "800000.00"),
    SeedPool("translation-services", "翻译服务",
             "Translation and interpreting", SUPPORT, "100000.00", "300000.00"),
    SeedPool("archives-digitisation", "档案数字化服务",
             "Digitising paper archives", SUPPORT, "500000.00", "1200000.00",
             jurisdiction="瑞安市"),
    # Public services (公共服务类).
    SeedPool("after-school-care", "中小学课后托管服务",
             "Education: after-school care for primary and middle-school pupils", PUBLIC,
             "600000.00", "1500000.00"),
    SeedPool("student-mental-health", "学生心理健康服务",
             "Education: school counselling and mental-health support", PUBLIC,
             "300000.00", "800000.00", jurisdiction="鹿城区"),
    SeedPool("community-home-care", "居家养老服务",
             "Elderly care: home-based care visits for older residents", PUBLIC,
             "1000000.00", "3000000.00"),
    SeedPool("elderly-meal-assistance", "老年助餐服务",
             "Elderly care: community canteens and meal delivery", PUBLIC,
             "800000.00", "2000000.00", jurisdiction="瓯海区"),
    SeedPool("elderly-capacity-assessment", "老年人能力评估服务",
             "Elderly care: assessing older people's care needs", PUBLIC,
             "200000.00", "600000.00"),
    SeedPool("community-governance", "社区治理服务",
             "Community: residents' participation and neighbourhood services", PUBLIC,
             "300000.00", "800000.00", jurisdiction="龙湾区"),
    SeedPool("social-work", "社会工作服务",
             "Community: social work for families, youth and vulnerable groups", PUBLIC,
             "500000.00", "1200000.00"),
    SeedPool("community-corrections", "社区矫正服务",
             "Justice: supervision and education of community-corrections subjects", PUBLIC,
             "400000.00", "1000000.00"),
    SeedPool("people-mediation", "人民调解服务",
             "Justice: people's mediation of civil disputes", PUBLIC,
             "200000.00", "600000.00", jurisdiction="乐清市"),
    SeedPool("public-legal-services", "公共法律服务",
             "Justice: legal aid and public legal service stations", PUBLIC,
             "300000.00", "800000.00"),
    SeedPool("health-education", "健康教育服务",
             "Health: public health education and screening campaigns", PUBLIC,
             "300000.00", "800000.00"),
    SeedPool("disability-rehabilitation", "残疾人康复服务",
             "Health: rehabilitation for people with disabilities", PUBLIC,
             "500000.00", "1200000.00", jurisdiction="永嘉县"),
    SeedPool("public-cultural-events", "公共文化活动服务",
             "Culture: public performances, exhibitions and reading events", PUBLIC,
             "400000.00", "1000000.00"),
    SeedPool("library-operations", "城市书房运营服务",
             "Culture: running Wenzhou's 24-hour city study rooms", PUBLIC,
             "600000.00", "1500000.00"),
    SeedPool("river-cleaning", "河道保洁服务",
             "Environment: river and canal cleaning", PUBLIC, "800000.00", "2000000.00",
             jurisdiction="平阳县"),
    SeedPool("waste-sorting-guidance", "垃圾分类指导服务",
             "Environment: guiding households in waste sorting", PUBLIC,
             "300000.00", "800000.00"),
    SeedPool("low-income-household-support", "低收入农户帮扶服务",
             "Poverty relief: support for low-income rural households", PUBLIC,
             "400000.00", "1000000.00", jurisdiction="泰顺县"),
    SeedPool("vocational-skills-training", "职业技能培训服务",
             "Training: vocational skills courses for workers", PUBLIC,
             "500000.00", "1200000.00"),
    SeedPool("employment-assistance", "就业援助服务",
             "Employment: job matching and help for people hard to employ", PUBLIC,
             "300000.00", "800000.00", jurisdiction="苍南县"),
)


def validity(today: date) -> tuple[date, date]:
    """From 1 January of this year to 31 December of the next: just under two years."""
    return date(today.year, 1, 1), date(today.year + 1, 12, 31)


async def seed(settings: PoolSettings) -> int:
    """Insert the catalogue's missing pools; returns how many were inserted."""
    db = await create_pool(settings.database_url, settings.db_schema, min_size=1, max_size=2,
                           jurisdiction_tz=settings.jurisdiction_tz)
    try:
        async with UnitOfWork(db, SOURCE) as uow:
            _, today = await repo.clock(uow.conn)
            valid_from, valid_to = validity(today)
            inserted = []
            for entry in CATALOGUE:
                cmd = CreatePool(code=entry.code, name=entry.name, category=entry.category,
                                 jurisdiction=entry.jurisdiction, description=entry.gloss,
                                 valid_from=valid_from, valid_to=valid_to,
                                 price_ceiling=Decimal(entry.price_ceiling),
                                 max_round_budget=Decimal(entry.max_round_budget))
                pool = await service.insert_pool(uow, cmd)
                if pool is not None:
                    inserted.append(pool.code)
                    uow.audit(SEEDER.id, SEEDER.role, "pool.created", f"/v1/pools/{pool.id}",
                              {"code": pool.code, "seed": True})
        log.info("seeded", inserted=len(inserted), catalogue=len(CATALOGUE))
        return len(inserted)
    finally:
        await db.close()
