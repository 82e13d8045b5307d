from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.common import SagaMode

DEV_ADMIN_TOKEN = "cloudmart-dev-admin"


class Settings(BaseSettings):
    """Everything configurable, from ``CLOUDMART_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CLOUDMART_", frozen=True)

    database_url: str = Field(
        default="sqlite:///var/cloudmart.db",
        description="sqlite:///path/file.db (each service's event store beside it) or postgresql://...",
    )
    redis_url: str | None = None
    rabbitmq_url: str | None = None
    saga_mode: SagaMode = SagaMode.CHOREOGRAPHY
    admin_token: str = DEV_ADMIN_TOKEN
    step_timeout_seconds: float = Field(default=5.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = Field(default=0.2, ge=0)
    poll_interval_seconds: float = Field(default=0.05, gt=0)
    tick_interval_seconds: float = Field(default=0.2, gt=0)
    seed_data: bool = True

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        return Path(self.database_url.removeprefix(prefix)) if self.database_url.startswith(prefix) else None
