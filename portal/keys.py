"""Typed application keys of the portal."""

from __future__ import annotations

import jinja2
from aiohttp import web

from portal.client import Services
from portal.live import LiveFeed
from portal.settings import PortalSettings

SETTINGS = web.AppKey("portal_settings", PortalSettings)
SERVICES = web.AppKey("portal_services", Services)
FEED = web.AppKey("portal_feed", LiveFeed)
TEMPLATES = web.AppKey("portal_templates", jinja2.Environment)
