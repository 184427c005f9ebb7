//! Competitive bidding (being written).
