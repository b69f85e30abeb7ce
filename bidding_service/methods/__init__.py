"""The second-stage methods' own rules (MOF Order 110): each method feeds the one award
pipeline of `bidding_service.awards.pipeline`."""
