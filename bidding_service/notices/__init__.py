"""Public notices (transparency.md): a projection of the service's own events."""
