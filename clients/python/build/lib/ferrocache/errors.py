"""Exceptions raised by the FerroCache client."""
from __future__ import annotations

from typing import Any, Optional


class FerrocacheError(Exception):
    """An error answer from a FerroCache node, or a failure to reach one.

    ``status`` is the HTTP status code of the answer, or ``None`` when no answer
    arrived (connection refused or reset, timeout). ``message`` is the server's
    ``error`` text when it sent one.
    """

    def __init__(self, status: Optional[int], message: str, body: Any = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.body = body

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"HTTP {self.status}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later (overload, not ready, no answer)."""
        return self.status is None or self.status in (429, 502, 503, 504)


class FerrocacheConnectionError(FerrocacheError):
    """The node could not be reached or closed the connection without an answer."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class FerrocacheTimeoutError(FerrocacheConnectionError):
    """No complete answer arrived within the client's timeout."""


class EmbeddingError(Exception):
    """An embedding function failed or is not available (missing package, bad answer)."""
