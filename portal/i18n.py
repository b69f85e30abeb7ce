"""The portal's own words in both languages (zh-CN by default, English at ?lang=en)."""

from __future__ import annotations

DEFAULT = "zh-CN"
LANGUAGES = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "site": {"zh-CN": "温州市政府采购供应商库公共信息平台",
             "en": "Wenzhou Public Procurement Supplier Pools: Public Portal"},
    "skip": {"zh-CN": "跳到正文", "en": "Skip to content"},
    "nav": {"zh-CN": "主导航", "en": "Main navigation"},
    "home": {"zh-CN": "首页", "en": "Home"},
    "pools": {"zh-CN": "供应商库", "en": "Supplier pools"},
    "awards": {"zh-CN": "成交结果公告", "en": "Result notices"},
    "ocds": {"zh-CN": "开放数据", "en": "Open data"},
    "other_lang": {"zh-CN": "English", "en": "中文"},
    "other_lang_name": {"zh-CN": "Switch to English", "en": "切换到中文"},
    "home_title": {"zh-CN": "公共采购信息公开", "en": "Public procurement disclosure"},
    "live_rounds": {"zh-CN": "进行中和即将开始的竞价", "en": "Live and upcoming rounds"},
    "no_live": {"zh-CN": "目前没有进行中的竞价。", "en": "No round is open at the moment."},
    "latest_results": {"zh-CN": "最新成交结果", "en": "Latest results"},
    "no_results": {"zh-CN": "暂无成交结果。", "en": "No result has been published yet."},
    "round": {"zh-CN": "竞价项目", "en": "Round"},
    "pool": {"zh-CN": "供应商库", "en": "Pool"},
    "buyer": {"zh-CN": "采购人", "en": "Buyer"},
    "method": {"zh-CN": "采购方式", "en": "Method"},
    "price_competition": {"zh-CN": "二次竞价", "en": "Secondary price competition"},
    "direct_selection": {"zh-CN": "直接选取", "en": "Direct selection"},
    "rotation": {"zh-CN": "轮候", "en": "Rotation"},
    "ceiling_price": {"zh-CN": "最高限价", "en": "Ceiling price"},
    "opens_at": {"zh-CN": "开始时间", "en": "Opens"},
    "closes_at": {"zh-CN": "截止时间", "en": "Closes"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "time_left": {"zh-CN": "剩余时间", "en": "Time left"},
    "extensions_used": {"zh-CN": "已延时次数", "en": "Extensions so far"},
    "extended": {"zh-CN": "截止时间已延长", "en": "The close has been extended"},
    "invitation": {"zh-CN": "竞价邀请公告", "en": "Invitation notice"},
    "description": {"zh-CN": "项目说明", "en": "Description"},
    "live_note": {"zh-CN": "倒计时随防狙击延时自动更新，截止后本页自动显示结果。",
                  "en": "The countdown follows anti-sniping extensions; at the close this "
                        "page shows the result by itself."},
    "sealed_note": {"zh-CN": "截止前不公开投标数量、投标人和报价。",
                    "en": "Until the close, neither the number of bids, nor the bidders, "
                          "nor any amount is public."},
    "result": {"zh-CN": "成交结果公告", "en": "Result notice"},
    "winner": {"zh-CN": "成交供应商", "en": "Winner"},
    "amount": {"zh-CN": "成交金额", "en": "Amount"},
    "bid_amount": {"zh-CN": "报价", "en": "Bid"},
    "evaluated_amount": {"zh-CN": "评审价", "en": "Evaluated price"},
    "rank": {"zh-CN": "排名", "en": "Rank"},
    "supplier": {"zh-CN": "供应商", "en": "Supplier"},
    "ranking": {"zh-CN": "有效报价排名", "en": "Ranking of valid bids"},
    "ranking_more": {"zh-CN": "下一页", "en": "Next page"},
    "award_status": {"zh-CN": "授予状态", "en": "Award status"},
    "awarded_at": {"zh-CN": "公告时间", "en": "Published"},
    "accept_by": {"zh-CN": "确认期限", "en": "Accept by"},
    "bids_root": {"zh-CN": "投标承诺根（bids_root）", "en": "Bids commitment (bids_root)"},
    "bids_tree_size": {"zh-CN": "承诺的投标数", "en": "Bids committed"},
    "audit_head": {"zh-CN": "审计链头", "en": "Audit head"},
    "verify": {"zh-CN": "供应商如何核验回执", "en": "How a supplier checks its receipt"},
    "verify_1": {"zh-CN": "投标时收到的签名回执含有该投标的 leaf（SHA-256）。",
                 "en": "The signed receipt a supplier got for its bid holds the bid's "
                       "leaf (SHA-256)."},
    "verify_2": {"zh-CN": "用 GET /v1/keys 的公钥（Ed25519）核验回执签名。",
                 "en": "Check the receipt's signature with the public keys at GET /v1/keys "
                       "(Ed25519)."},
    "verify_3": {"zh-CN": "向竞价服务取得包含证明（GET /v1/rounds/{id}/bids/{bid_id}/proof），"
                          "按 RFC 6962 由 leaf 推算根，应等于上面的 bids_root。",
                 "en": "Fetch the inclusion proof (GET /v1/rounds/{id}/bids/{bid_id}/proof) "
                       "and recompute the root from the leaf by RFC 6962: it must equal the "
                       "bids_root above."},
    "verify_4": {"zh-CN": "审计链头可与 GET /v1/audit/head 及此后公告的链头对照，"
                          "确认记录未被改写。",
                 "en": "Compare the audit head with GET /v1/audit/head and later notices: "
                       "the chain must extend it, never rewrite it."},
    "failed": {"zh-CN": "竞价失败公告", "en": "Failure notice"},
    "cancelled": {"zh-CN": "竞价终止公告", "en": "Cancellation notice"},
    "reason": {"zh-CN": "原因", "en": "Reason"},
    "st_scheduled": {"zh-CN": "即将开始", "en": "Upcoming"},
    "st_open": {"zh-CN": "竞价中", "en": "Open"},
    "st_closed": {"zh-CN": "已截止", "en": "Closed"},
    "st_awarded": {"zh-CN": "已成交", "en": "Awarded"},
    "st_accepted": {"zh-CN": "已确认", "en": "Accepted"},
    "st_reawarded": {"zh-CN": "已顺延授予", "en": "Re-awarded"},
    "st_failed": {"zh-CN": "失败", "en": "Failed"},
    "st_cancelled": {"zh-CN": "已终止", "en": "Cancelled"},
    "st_published": {"zh-CN": "已公告", "en": "Published"},
    "st_declined": {"zh-CN": "已放弃", "en": "Declined"},
    "st_expired": {"zh-CN": "已逾期", "en": "Expired"},
    "st_active": {"zh-CN": "有效", "en": "Active"},
    "st_upcoming": {"zh-CN": "未生效", "en": "Upcoming"},
    "st_terminated": {"zh-CN": "已终止", "en": "Terminated"},
    "code": {"zh-CN": "编号", "en": "Code"},
    "name": {"zh-CN": "名称", "en": "Name"},
    "category": {"zh-CN": "类别", "en": "Category"},
    "validity": {"zh-CN": "有效期", "en": "Valid"},
    "admitted_count": {"zh-CN": "入库供应商数", "en": "Admitted suppliers"},
    "top_up": {"zh-CN": "补充征集", "en": "Top-up"},
    "top_up_yes": {"zh-CN": "需要补充征集供应商", "en": "Needs new suppliers"},
    "top_up_no": {"zh-CN": "不需要", "en": "Not needed"},
    "past_results": {"zh-CN": "历次成交结果", "en": "Past results"},
    "filter": {"zh-CN": "筛选", "en": "Filter"},
    "filter_status": {"zh-CN": "按状态筛选", "en": "Filter by status"},
    "all": {"zh-CN": "全部", "en": "All"},
    "show": {"zh-CN": "显示", "en": "Show"},
    "no_pools": {"zh-CN": "暂无供应商库。", "en": "No pool yet."},
    "view": {"zh-CN": "查看", "en": "View"},
    "award": {"zh-CN": "成交结果", "en": "Award"},
    "next": {"zh-CN": "更多", "en": "More"},
    "ocds_title": {"zh-CN": "开放数据（OCDS 1.1）", "en": "Open data (OCDS 1.1)"},
    "ocds_intro": {"zh-CN": "两个服务按开放缔约数据标准（OCDS 1.1）发布数据包，"
                            "可按 links.next 逐页读取。",
                   "en": "Both services publish release packages in the Open Contracting Data "
                         "Standard 1.1; follow links.next page by page."},
    "ocds_pools": {"zh-CN": "供应商库（框架协议）", "en": "Pools (framework agreements)"},
    "ocds_rounds": {"zh-CN": "竞价与成交（框架协议下的采购）",
                    "en": "Rounds and awards (call-offs under the framework)"},
    "notices_api": {"zh-CN": "公告接口（JSON）", "en": "Notices API (JSON)"},
    "not_found": {"zh-CN": "未找到", "en": "Not found"},
    "not_found_text": {"zh-CN": "没有这个页面，或该信息尚未公开。",
                       "en": "There is no such page, or it is not public yet."},
    "unavailable": {"zh-CN": "暂时无法显示", "en": "Temporarily unavailable"},
    "unavailable_text": {"zh-CN": "数据服务暂时无法访问，请稍后再试。",
                         "en": "The data services cannot be reached; please try again later."},
    "footer": {"zh-CN": "本平台只显示依法公开的信息。", "en": "This portal shows only what "
               "the law makes public."},
    "days": {"zh-CN": "天", "en": "d"},
}


def choose(lang: str | None) -> str:
    """`?lang=en` gives English; anything else the default."""
    return "en" if lang == "en" else DEFAULT


def translate(key: str, lang: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry[lang]
