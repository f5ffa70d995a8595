//! triggerd-scheduler (placeholder, filled by its issue).
