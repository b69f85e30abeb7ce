"""Bidding service: timed second-stage competitions and the other methods of MOF Order 110."""

# The CloudEvents source of every event this service emits.
SOURCE = "/bidding-service"
