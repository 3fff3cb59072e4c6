"""The framework-neutral view of a request that ``when`` and callable resources read.

Its own module so that rules (which name it in types) and the core both depend on it, and
neither on the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestView"]


@dataclass(slots=True, eq=False)
class RequestView:
    """The framework-neutral view of a request given to ``when`` and callable resources.

    (Not frozen: it is built for every matching response, and a frozen dataclass costs five
    times as much to build.)
    """

    method: str
    scheme: str
    host: str
    path: str
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    client_ip: str | None
    params: Mapping[str, str]
    native: Any
