"""The middleware's options: one typed list that every adapter takes and the core checks.

``CookieOptions`` types each adapter's ``**options``, so ``mypy --strict`` on an app flags a
misspelled option (Starlette's ``add_middleware`` too); ``DEFAULTS`` holds what an option left
out means; ``check_names`` refuses an unknown name with the closest valid one, when the
middleware is built. Flask's and Django's setting names are these names.
"""

from __future__ import annotations

import difflib
import inspect
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import ForwardRef, TypedDict, TypeVar

from cfcookie_middleware.request import RequestView
from cfcookie_middleware.rules import Rule
from cfcookie_middleware.signing import ConfigurationError, Signer

__all__ = [
    "DEFAULTS",
    "DEFAULT_CACHE_SIZE",
    "NAMES",
    "CookieOptions",
    "check_names",
    "parameters",
    "spelled_out",
]

DEFAULT_CACHE_SIZE = 10_000
"""Signed cookie sets kept for reuse, as many verified returning sets, and as many returning
Cookie headers found current: measured at about 1.9 KB, 1.1 KB and 0.2 KB an entry (RSA-2048;
0.7 KB for a header with the most other cookies one is remembered with), so about 31 MB, and 36
MB at most, however padded the Cookie headers (benchmarks/bench_per_user.py, with and without
--filler)."""


class CookieOptions(TypedDict, total=False):
    """The options every adapter takes (``signer`` and ``rules`` are required; the rest have
    the defaults in ``DEFAULTS``). The documentation site's options table is made from this."""

    signer: Signer
    rules: Rule | Iterable[Rule]
    cookie_domain: str | None
    cookie_path: str
    secure: bool
    httponly: bool
    samesite: str
    max_age: timedelta | int | None
    refresh_margin: timedelta | None
    when: Callable[[RequestView], object] | None
    clear_on: str | Sequence[str]
    methods: str | Iterable[str]
    cache_size: int
    clock: Callable[[], float]


DEFAULTS: CookieOptions = {
    "cookie_domain": None,
    "cookie_path": "/",
    "secure": True,
    "httponly": True,
    "samesite": "lax",
    "max_age": None,
    "refresh_margin": None,
    "when": None,
    "clear_on": (),
    "methods": ("GET",),
    "cache_size": DEFAULT_CACHE_SIZE,
    "clock": time.time,
}
NAMES = tuple(CookieOptions.__annotations__)
"""The option names, in the order of the documentation's table."""


def check_names(names: Iterable[str], *, spelled: Callable[[str], str] = str) -> None:
    """Refuse the first name that is not an option, naming the closest one; ``spelled`` shows
    a name as the user wrote it (Flask's ``CLOUDFRONT_COOKIES_COOKIE_DOMAIN``, say)."""
    for name in names:
        if name in NAMES:
            continue
        close = difflib.get_close_matches(str(name).lower(), NAMES, n=1)
        hint = (
            f"did you mean {spelled(close[0])}?"
            if close
            else "the options are " + ", ".join(map(spelled, NAMES))
        )
        raise ConfigurationError(f"{spelled(str(name))}: not an option; {hint}")


def parameters() -> Iterator[inspect.Parameter]:
    """The options as keyword-only parameters, with their types (as written) and defaults."""
    for name, kind in CookieOptions.__annotations__.items():
        annotation = kind.__forward_arg__ if isinstance(kind, ForwardRef) else kind
        default = DEFAULTS.get(name, inspect.Parameter.empty)
        yield inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )


F = TypeVar("F", bound=Callable[..., None])


def spelled_out(init: F) -> F:
    """Show ``init``'s ``**options`` one by one in ``help()`` and ``inspect.signature``."""
    signature = inspect.signature(init)
    kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    init.__signature__ = signature.replace(parameters=[*kept, *parameters()])  # type: ignore[attr-defined]
    return init
