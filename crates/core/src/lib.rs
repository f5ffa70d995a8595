//! triggerd-core (placeholder, filled by its issue).
