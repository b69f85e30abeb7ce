"""The commands the deployment runs exist in the services' entry points."""

from __future__ import annotations

import pytest

from .support import REPO, SUBCOMMANDS


def entry_point_source(module: str) -> str:
    """`<module>/__main__.py`, plus the shared runner when it delegates to it."""
    main = REPO / module / "__main__.py"
    assert main.is_file(), f"{main.relative_to(REPO)} is missing: `python -m {module}` fails"
    source = main.read_text(encoding="utf-8")
    runner = REPO / "shared" / "runner.py"
    if "run_cli" in source and runner.is_file():
        source += runner.read_text(encoding="utf-8")
    return source


@pytest.mark.parametrize(("module", "sub"), sorted(
    (module, sub) for module, subs in SUBCOMMANDS.items() for sub in subs))
def test_entry_point_accepts_the_subcommand(module: str, sub: str) -> None:
    source = entry_point_source(module)
    assert f'"{sub}"' in source or f"'{sub}'" in source, (
        f"python -m {module} {sub} is run by the deployment, but {module}/__main__.py "
        "does not mention it")
