"""Helpers for reading chat messages given to an SDK call."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._semantic import is_sentinel


def materialise(kwargs: Dict[str, Any], key: str) -> Optional[List[Any]]:
    """Turn an iterable argument (a generator, say) into a list, in ``kwargs`` too, so it can be read twice."""
    value = kwargs.get(key)
    if value is None or is_sentinel(value):
        return None
    if isinstance(value, (str, bytes, dict)):
        return None
    if not isinstance(value, list):
        try:
            value = list(value)
        except TypeError:
            return None
        kwargs[key] = value
    return value


def text_of_content(content: Any) -> Optional[str]:
    """The text of a message's content: a string, or a list of text parts only; else None.

    Messages with images, audio, files or other non-text parts are not looked
    up: their text alone would not identify the question.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: List[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                return None
        return "\n".join(texts)
    return None
