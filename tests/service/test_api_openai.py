"""The OpenAI-compatible endpoint, driven by the official `openai` SDK."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture(scope="module")
def client(live_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key="not-needed", max_retries=0, timeout=30)


def test_non_streaming_completion_with_sources_and_structured_extra(client):
    completion = client.chat.completions.create(model="stride", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "how long should I ice my hip"}])
    content = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert "[1]" in content and "\n\nSources:\n[1] " in content
    extra = completion.model_extra["stride"]
    assert extra["safety"]["level"] == "none"
    assert extra["citations"] and extra["citations"][0]["quote"] in content
    assert content.startswith(extra["answer"])


def test_streaming_chunks_concatenate_to_the_same_content(client):
    messages = [{"role": "user", "content": "what stretches help tight hip flexors"}]
    whole = client.chat.completions.create(model="stride", messages=messages).choices[0].message.content
    stream = client.chat.completions.create(model="stride", messages=messages, stream=True)
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == whole
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[0].model_extra["stride"]["safety"]["level"] == "none"


def test_safety_is_in_the_completion(client):
    completion = client.chat.completions.create(model="stride", messages=[{"role": "user", "content": "I have numbness between my legs and I can't control my bladder since my run"}])
    extra = completion.model_extra["stride"]
    assert extra["safety"]["level"] == "emergency"
    assert "Sources:" not in completion.choices[0].message.content


def test_content_parts_and_bad_requests(client):
    completion = client.chat.completions.create(model="stride", messages=[{"role": "user", "content": [{"type": "text", "text": "is foam rolling good for my hips?"}]}])
    assert completion.model_extra["stride"]["abstained"] is False
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.chat.completions.create(model="stride", messages=[{"role": "assistant", "content": "hello"}])
    assert "last message" in info.value.message


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["stride"]
