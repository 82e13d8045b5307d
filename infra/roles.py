"""What ``cloudmart worker ROLE`` can run: one service's loops (the orchestrator's among them) or the projector.
Named apart from the wiring (``infra.topology``) so that the command line knows them without loading it."""

from __future__ import annotations

from domain.common import ServiceName

PROJECTOR_ROLE = "projector"
ROLES: tuple[str, ...] = (*(service.value for service in ServiceName), PROJECTOR_ROLE)
