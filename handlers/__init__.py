"""Application services (one eventsourcing Application per service), choreography reactions,
orchestration command handlers and the ports they need from the outside world."""
