//! Audience segments (R-A1, R-A2): filter trees over a profile.
