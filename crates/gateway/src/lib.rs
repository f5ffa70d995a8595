//! triggerd-gateway (placeholder, filled by its issue).
