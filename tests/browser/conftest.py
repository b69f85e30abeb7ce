"""The portal in a real headless browser (Debian's chromium driven by Playwright), in
front of the real services as processes on the session's database and broker.

Nothing here is skipped: the setup installs chromium with apt when it is missing, and
fails (saying why) when it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.faults.system import System
from tests.support import ServiceProcess

CHROMIUM = Path("/usr/bin/chromium")
# A Chinese font, so pages (and the README's screenshots) show characters, not boxes.
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
PACKAGES = {CHROMIUM: "chromium", CJK_FONT: "fonts-wqy-microhei"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def _apt_install(packages: list[str]) -> None:
    """apt-get install Debian's packages (as root), never a browser build of Playwright's."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{', '.join(packages)} missing and cannot be installed here: run "
                    f"`apt-get update && apt-get install -y {' '.join(packages)}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900,
                              check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")


@pytest.fixture(scope="session")
def chromium() -> Path:
    missing = [package for path, package in PACKAGES.items() if not path.exists()]
    if missing:
        _apt_install(missing)
    for path, package in PACKAGES.items():
        if not path.exists():
            pytest.fail(f"apt installed {package} but {path} is not there")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(chromium), headless=True,
                                     args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture(scope="session")
async def system(service_env: dict[str, str]) -> AsyncIterator[System]:
    s = await System(service_env, f"b{uuid.uuid4().hex[:8]}").start(n_pool=1, n_bidding=1)
    yield s
    await s.stop()


@pytest.fixture(scope="session")
async def portal(system: System) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess("portal", {
        "POOL_SERVICE_URL": system.pools[0].url, "BIDDING_SERVICE_URL": system.biddings[0].url,
        "AMQP_URL": system.amqp_url, "EVENTS_EXCHANGE": system.exchange,
        "LOG_LEVEL": "info"})
    await proc.start()
    yield proc
    assert proc.terminate() == 0, proc.log_text()[-2000:]
