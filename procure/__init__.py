"""`procure`: the operators' command line for the pool and bidding services."""
