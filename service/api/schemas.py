"""Request and response models of the public API (the contract in README → API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from service.engine import Citation

MAX_MESSAGES = 50
MAX_CHARS = 4000

Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHARS)]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: Content

    @field_validator("content")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain some text, not only spaces")
        return value


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"messages": [{"role": "user", "content": "why do my hips hurt when I run?"}], "stream": False}]})

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    stream: bool = False

    @model_validator(mode="after")
    def last_is_user(self) -> ChatRequest:
        if self.messages[-1].role != "user":
            raise ValueError("the last message must be the user's question (role 'user')")
        return self


class SafetyOut(BaseModel):
    level: Literal["none", "see_doctor", "urgent", "emergency"]
    rules: list[str]
    message: str | None


class ChatResponse(BaseModel):
    id: str = Field(description="Stable id of this answer; send it back with feedback.")
    answer: str
    citations: list[Citation]  # the engine's own dataclass: one definition of the shape
    safety: SafetyOut
    abstained: bool
    disclaimer: str


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    publisher: str
    author: str
    url: str
    chunks: int


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    publisher: str
    author: str
    url: str
    text: str


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
    rating: Literal["up", "down"]
    comment: Annotated[str, StringConstraints(max_length=1000)] | None = None


class FeedbackResponse(BaseModel):
    stored: bool


# -- OpenAI-compatible -------------------------------------------------------------------


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str, StringConstraints(max_length=MAX_CHARS)] | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class OpenAIChatRequest(BaseModel):
    """The subset of the Chat Completions request Stride reads; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = "stride"
    messages: Annotated[list[OpenAIMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    stream: bool = False

    def conversation(self) -> list[dict[str, Any]]:
        # System/developer prompts are dropped: they cannot change what the articles say.
        return [{"role": m.role, "content": m.text()} for m in self.messages if m.role in ("user", "assistant")]
