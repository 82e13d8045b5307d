"""The application layer: one eventsourcing Application per service (``services/``), one routing table per
service for both saga styles (``routing/``), the use cases the API starts, and the ports they need."""
