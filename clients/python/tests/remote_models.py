"""LangChain and LlamaIndex models that call the local fake LLM server over HTTP (OpenAI wire format).

They stand in for provider packages (langchain-openai, llama-index-llms-openai)
whose pins on the openai SDK would clash with the SDK versions under test.
"""
from __future__ import annotations

import json
import urllib.request
from typing import Any, Dict, List, Optional

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.llms import LLM as LangChainLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def chat_call(base_url: str, model: str, messages: List[Dict[str, str]], **params: Any) -> str:
    body = json.dumps({"model": model, "messages": messages, **params}).encode()
    req = urllib.request.Request(base_url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"]


class RemoteChatModel(BaseChatModel):
    base_url: str
    model: str = "gpt-test"
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "remote-test-chat"

    @property
    def _identifying_params(self) -> Dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature}

    def _generate(self, messages: List[BaseMessage], stop: Optional[List[str]] = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        wire = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        text = chat_call(self.base_url, self.model, wire, temperature=self.temperature)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class RemoteTextLLM(LangChainLLM):
    base_url: str
    model: str = "gpt-test"

    @property
    def _llm_type(self) -> str:
        return "remote-test-llm"

    @property
    def _identifying_params(self) -> Dict[str, Any]:
        return {"model": self.model}

    def _call(self, prompt: str, stop: Optional[List[str]] = None, run_manager: Any = None, **kwargs: Any) -> str:
        return chat_call(self.base_url, self.model, [{"role": "user", "content": prompt}])


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
