"""All configuration, read once from `STRIDE_*` environment variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIDE_", env_file=".env", extra="ignore")

    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "index" / "artifact"
    safety_rules: Path = ROOT / "service" / "safety_rules.toml"
    scope_rules: Path = ROOT / "service" / "scope_rules.toml"
    scope_model: Path = ROOT / "service" / "scope_model.json"

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Threads one query encoding may use. Requests already run concurrently in the thread
    # pool, so 1 avoids oversubscribing the cores (bench/RESULTS.md: 1 thread beat 2 under
    # load; 2 only helps a lone request by ~1 ms).
    encoder_threads: int = 1

    # Public widget hygiene.
    # Sites allowed to call the API from a browser and to frame Stride's pages
    # (CORS + CSP frame-ancestors). Empty means the server's own demo page only.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit: str = "30/minute;300/hour"  # per client; "" disables
    max_body_bytes: int = 64 * 1024
    request_timeout_s: float = 10.0
    max_concurrency: int = 64

    # Privacy: message text is never logged or stored unless the operator says so.
    log_messages: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    feedback_enabled: bool = False
    feedback_db: Path = ROOT / "var" / "feedback.sqlite3"
    admin_token: str = ""  # operator endpoints are disabled while empty

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # STRIDE_ALLOWED_ORIGINS is a comma-separated list: "https://club.example,https://www.club.example"
        if isinstance(value, str):
            return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]
        return value


    @property
    def origins(self) -> list[str]:
        return self.allowed_origins or [f"http://{self.host}:{self.port}", f"http://localhost:{self.port}"]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
