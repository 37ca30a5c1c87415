"""A LlamaIndex LLM that calls the local fake LLM server over HTTP (OpenAI wire format).

It stands in for llama-index-llms-openai, whose pin on the openai SDK would clash with the SDK version under test.
"""
from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from fake_llm import chat_call


class RemoteLlamaLLM(CustomLLM):
    base_url: str
    model: str = "gpt-test"
    temperature: float = 0.0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=chat_call(self.base_url, self.model, [{"role": "user", "content": prompt}],
                                                 temperature=self.temperature))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = self.complete(prompt, formatted=formatted).text
        acc = ""
        for word in text.split(" "):
            delta = word if not acc else " " + word
            acc += delta
            yield CompletionResponse(text=acc, delta=delta)

    @llm_chat_callback()
    def chat(self, messages: Any, **kwargs: Any) -> ChatResponse:
        wire = [{"role": str(m.role.value), "content": m.content or ""} for m in messages]
        text = chat_call(self.base_url, self.model, wire, temperature=self.temperature)
        return ChatResponse(message=ChatMessage(role="assistant", content=text))
