"""Stream objects returned by wrapped ``create(..., stream=True)`` calls.

* :class:`ReplayStream` / :class:`AsyncReplayStream` replay a cache hit as the
  chunk/event objects the SDK would have produced.
* :class:`RecordingStream` / :class:`AsyncRecordingStream` pass a live SDK
  stream through unchanged, keep its items, and call ``on_complete(items)``
  once the stream has been read to its end (a stream closed early is not stored).

All four carry ``_ferrocache_hit`` and ``_ferrocache_similarity``, support
iteration, ``with``/``async with`` and ``close()``, and the recording ones
forward any other attribute (``response`` ...) to the SDK stream.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterator, List, Optional


class _Marked:
    _ferrocache_hit: Optional[bool]
    _ferrocache_similarity: Optional[float]

    def _mark(self, hit: Optional[bool], similarity: Optional[float]) -> None:
        self._ferrocache_hit = hit
        self._ferrocache_similarity = similarity


class ReplayStream(_Marked):
    """A cache hit served as a stream."""

    def __init__(self, items: List[Any], similarity: Optional[float]) -> None:
        self._items = iter(items)
        self._mark(True, similarity)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def close(self) -> None:
        self._items = iter(())

    def __enter__(self) -> "ReplayStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncReplayStream(_Marked):
    """A cache hit served as an async stream."""

    def __init__(self, items: List[Any], similarity: Optional[float]) -> None:
        self._items = iter(items)
        self._mark(True, similarity)

    def __aiter__(self) -> "AsyncReplayStream":
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        self._items = iter(())

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> "AsyncReplayStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class RecordingStream(_Marked):
    """A live SDK stream whose items are kept and handed to ``on_complete`` at its end."""

    def __init__(self, inner: Any, on_complete: Callable[[List[Any]], None], hit: Optional[bool]) -> None:
        self._inner = inner
        self._iter = iter(inner)
        self._on_complete = on_complete
        self._items: List[Any] = []
        self._done = False
        self._mark(hit, None)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._iter)
        except StopIteration:
            if not self._done:
                self._done = True
                self._on_complete(self._items)
            raise
        self._items.append(item)
        return item

    def close(self) -> None:
        self._done = True  # closed before the end: nothing to store
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "RecordingStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)


class AsyncRecordingStream(_Marked):
    """Async twin of :class:`RecordingStream`; ``on_complete`` is awaited."""

    def __init__(self, inner: Any, on_complete: Callable[[List[Any]], Awaitable[None]],
                 hit: Optional[bool]) -> None:
        self._inner = inner
        self._iter = inner.__aiter__()
        self._on_complete = on_complete
        self._items: List[Any] = []
        self._done = False
        self._mark(hit, None)

    def __aiter__(self) -> "AsyncRecordingStream":
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self._iter.__anext__()
        except StopAsyncIteration:
            if not self._done:
                self._done = True
                await self._on_complete(self._items)
            raise
        self._items.append(item)
        return item

    async def close(self) -> None:
        self._done = True
        close = getattr(self._inner, "close", None)
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> "AsyncRecordingStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)
