"""The public portal: a read-only, server-rendered view of what the public may see."""
