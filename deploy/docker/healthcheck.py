#!/usr/bin/env python3
"""Container health probe: GET http://127.0.0.1:<port><path>, exit 0 on HTTP 200.

The image has no curl. The port is HTTP_PORT when set, else the default of the
service the container runs (found in PID 1's command line). Standard library only,
so a probe costs no more than starting the interpreter.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

# Keep in step with the settings' http_port defaults (tests check it).
DEFAULT_PORTS = {"pool_service": 8081, "bidding_service": 8082, "portal": 8080}


def service_port() -> int:
    """The port the service in this container listens on."""
    if port := os.environ.get("HTTP_PORT"):
        return int(port)
    try:
        argv = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        argv = []
    for module, port_number in DEFAULT_PORTS.items():
        if module in argv:
            return port_number
    raise SystemExit(f"healthcheck: set HTTP_PORT (no known service in {argv!r})")


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/healthz"
    url = f"http://127.0.0.1:{service_port()}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
