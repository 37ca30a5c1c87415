"""LangChain models that call the local fake LLM server over HTTP (OpenAI wire format).

They stand in for langchain-openai, whose pin on the openai SDK would clash with the SDK version under test.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.llms import LLM as LangChainLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from fake_llm import chat_call

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


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
