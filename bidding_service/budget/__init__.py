"""The budget loop with finance (finance.md): reservation, commit, release, payments."""
