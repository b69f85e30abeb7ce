"""`python -m bidding_service [serve|migrate]`."""

from __future__ import annotations

import sys

from bidding_service.app import MIGRATIONS, build_app
from bidding_service.settings import BiddingSettings
from shared.runner import run_cli


def main() -> int:
    return run_cli(name="bidding-service", settings_class=BiddingSettings, build_app=build_app,
                   migrations=MIGRATIONS, namespace="bidding")


if __name__ == "__main__":
    sys.exit(main())
