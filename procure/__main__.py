"""`python -m procure` (the same as the `procure` script)."""

from procure.cli import app

app(prog_name="procure")
