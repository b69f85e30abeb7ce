"""The public portal in headless chromium: the live countdown follows an anti-sniping
extension and turns into the result without a reload; the English toggle; the notice
without JavaScript; one h1, landmarks, labels, contrast. Saves the README's screenshots."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.faults.system import System
from tests.support import ROOT, ServiceProcess

# The first test also waits for the session's setup (apt may install chromium).
pytestmark = pytest.mark.timeout(900)
IMG = ROOT / "docs" / "img"
CLOCK = re.compile(r"^(\d+d )?\d\d:\d\d:\d\d$")
VIEWPORT = {"width": 1100, "height": 900}

# Contrast ratio (WCAG 2) of each element's text against the first opaque background up
# its ancestors; the lowest one found on the page.
LOWEST_CONTRAST = """
() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let lowest = 21, where = '';
  const texts = 'h1,h2,h3,p,a,th,td,dt,dd,li,label,button,caption,code';
  for (const el of document.querySelectorAll(texts)) {
    if (!el.offsetParent && el.tagName !== 'A') continue;
    const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(bg(el));
    const ratio = (Math.max(fg, b) + 0.05) / (Math.min(fg, b) + 0.05);
    if (ratio < lowest) { lowest = ratio; where = el.tagName + ': ' + el.textContent.slice(0, 40); }
  }
  return [lowest, where];
}
"""


async def _bid(system: System, round_id: str, supplier: dict[str, Any], amount: str) -> None:
    await system.call("POST", f"{system.bidding_url()}/v1/rounds/{round_id}/bids",
                      json={"amount": amount}, headers=system.supplier_headers(supplier["id"]),
                      expect=201)


async def _closes_at(page: Page) -> str:
    return str(await page.get_attribute("#countdown", "data-closes-at"))


async def _check_accessible(page: Page) -> None:
    assert await page.locator("h1").count() == 1, await page.content()
    for landmark in ("header", "nav", "main", "footer"):
        assert await page.locator(landmark).count() >= 1, landmark
    assert await page.get_attribute("html", "lang") in ("zh-CN", "en")
    unlabelled = await page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]),select,textarea')].filter(e => !e.labels || !e.labels.length)
        .map(e => e.name)""")
    assert unlabelled == []
    lowest, where = await page.evaluate(LOWEST_CONTRAST)
    assert lowest >= 4.5, (lowest, where)


async def test_a_live_round_counts_down_follows_an_extension_and_turns_into_the_result(
        browser: Browser, portal: ServiceProcess, system: System) -> None:
    pool, suppliers = await system.make_pool(3)
    # The late best bid moves the close to 20 s after it: later than the 12 s planned.
    rnd = await system.launch(pool["id"], seconds=12, title="赴汉堡港考察学习服务",
                              description="10人，7天，含往返机票与住宿",
                              extension={"window_seconds": 60, "extend_seconds": 20,
                                         "max_extensions": 1})
    page = await browser.new_page(viewport=VIEWPORT)
    await page.goto(f"{portal.url}/rounds/{rnd['id']}")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert "赴汉堡港考察学习服务" in await page.inner_text("h1")
    assert await _closes_at(page) == rnd["closes_at"]
    first = await page.inner_text("#countdown")
    assert CLOCK.match(first), first
    await page.wait_for_function(  # it ticks
        "t => document.getElementById('countdown').textContent !== t", arg=first)
    await _check_accessible(page)
    await page.evaluate("window.__sameDocument = 'still here'")
    await page.screenshot(path=str(IMG / "portal-live-round.png"), full_page=True)

    # A late best bid inside the window moves the close: the page follows, no reload.
    await _bid(system, rnd["id"], suppliers[0], "450000.00")
    await _bid(system, rnd["id"], suppliers[1], "420000.00")
    await page.wait_for_function(
        "c => document.getElementById('countdown').dataset.closesAt !== c",
        arg=rnd["closes_at"], timeout=20_000)
    moved = (await system.round(rnd["id"]))
    assert moved["extensions_used"] == 1
    assert await _closes_at(page) == moved["closes_at"]
    assert await page.inner_text("#extensions-used") == "1"
    assert (await page.inner_text("#live-status")).strip() == "截止时间已延长"
    live_html = await page.content()
    for secret in ("420000", "450000", suppliers[0]["name"], suppliers[1]["name"],
                   "bid_count", "bidder_count"):
        assert secret not in live_html, secret

    # The close turns the page into the result notice, still the same document.
    await page.wait_for_selector("#winner", timeout=90_000)
    assert await page.evaluate("window.__sameDocument") == "still here"
    view = await system.wait_round(rnd["id"], {"awarded"})
    assert await page.inner_text("#winner") == suppliers[1]["name"]
    assert await page.inner_text("#award-amount") == "¥420,000.00"
    assert await page.locator("#ranking tbody tr").count() == 2
    assert await page.inner_text("#bids-root") == view["bids_root"]
    head = view["award"]["audit_head"]
    assert await page.inner_text("#audit-head") == f"#{head['seq']} {head['hash']}"
    assert "RFC 6962" in await page.inner_text("#verify-h + dl + ol")
    await _check_accessible(page)
    await page.screenshot(path=str(IMG / "portal-result-notice.png"), full_page=True)

    # The English toggle, on the result notice.
    await page.click("#lang-toggle")
    await page.wait_for_load_state()
    assert await page.get_attribute("html", "lang") == "en"
    assert (await page.inner_text("h1")).startswith("Result notice")
    assert "How a supplier checks its receipt" in await page.inner_text("main")
    assert "Result notices" in await page.inner_text("nav")
    assert await page.inner_text("#award-amount") == "¥420,000.00"
    await _check_accessible(page)
    await page.click("#lang-toggle")
    await page.wait_for_load_state()
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await page.close()


async def test_without_javascript_the_invitation_notice_is_all_there(
        browser: Browser, portal: ServiceProcess, system: System) -> None:
    pool, _ = await system.make_pool(2)
    rnd = await system.launch(pool["id"], seconds=120, title="市属医院保洁服务",
                              description="三个院区，一年")
    context = await browser.new_context(java_script_enabled=False, viewport=VIEWPORT)
    page = await context.new_page()
    await page.goto(f"{portal.url}/rounds/{rnd['id']}?lang=en")
    assert await page.inner_text("h1") == "Invitation notice：市属医院保洁服务"
    assert await page.inner_text("#description") == "三个院区，一年"
    assert CLOCK.match(await page.inner_text("#countdown"))
    assert await page.get_attribute("#closes-at", "datetime") == rnd["closes_at"]
    assert "¥500,000.00" in await page.inner_text("main")
    # The home page lists it, and the pool's page counts its members.
    await page.goto(f"{portal.url}/?lang=en")
    assert "市属医院保洁服务" in await page.inner_text("main")
    await page.click(f"a[href='/pools/{pool['code']}?lang=en']")
    assert await page.inner_text("#admitted-count") == "2"
    await _check_accessible(page)
    await context.close()
    await system.call("POST", f"{system.bidding_url()}/v1/rounds/{rnd['id']}/cancel",
                      json={"reason": "test done"}, headers=system.center, expect=200)


async def test_every_page_has_one_h1_landmarks_labels_and_contrast(
        browser: Browser, portal: ServiceProcess, system: System) -> None:
    pool, suppliers = await system.make_pool(2)
    rnd = await system.launch(pool["id"], seconds=2)
    for s, amount in zip(suppliers, ("300000.00", "310000.00"), strict=True):
        await _bid(system, rnd["id"], s, amount)
    view = await system.wait_round(rnd["id"], {"awarded"})
    page = await browser.new_page(viewport=VIEWPORT)
    for lang in ("", "?lang=en"):
        for path in ("/", "/pools", f"/pools/{pool['code']}", f"/rounds/{rnd['id']}",
                     "/awards", f"/awards/{view['award']['id']}", "/ocds", "/rounds/nope"):
            resp = await page.goto(f"{portal.url}{path}{lang}")
            assert resp is not None and resp.status == (404 if "nope" in path else 200), path
            await _check_accessible(page)
    await page.goto(f"{portal.url}/ocds")
    assert (await page.get_attribute("#ocds-pools", "href")) == \
        f"{system.pools[0].url}/ocds/release-packages"
    assert (await page.get_attribute("#ocds-rounds", "href")) == \
        f"{system.biddings[0].url}/ocds/release-packages"
    await page.close()


async def test_a_page_from_the_services_is_timed(portal: ServiceProcess, system: System,
                                                  record_property: Any) -> None:
    """The figure for the report (no timed assertion): median of 30 renders."""
    pool, suppliers = await system.make_pool(2)
    rnd = await system.launch(pool["id"], seconds=2)
    for s, amount in zip(suppliers, ("200000.00", "210000.00"), strict=True):
        await _bid(system, rnd["id"], s, amount)
    await system.wait_round(rnd["id"], {"awarded"})
    figures: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        for path in ("/", f"/rounds/{rnd['id']}"):
            times = []
            for _ in range(30):
                started = time.perf_counter()
                async with http.get(portal.url + path) as resp:
                    body = await resp.text()
                    assert resp.status == 200 and "<h1>" in body
                times.append((time.perf_counter() - started) * 1000)
            figures[path] = statistics.median(times)
    record_property("portal_render_ms", figures)
    print(f"portal render median ms: {figures}")
    assert set(figures) == {"/", f"/rounds/{rnd['id']}"}
