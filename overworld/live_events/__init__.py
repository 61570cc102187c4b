"""Live events and remote config: per-title base configuration, scheduled events that override it
for an audience while they are live, and socket notifications when they start and end
(docs/live_events.md)."""
