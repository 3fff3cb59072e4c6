"""Decide, as CloudFront would, whether a signed URL or signed cookies grant access to a URL.

The inverse of :mod:`cfcookie_middleware.signing`, for tests, the local CloudFront stand-in and the
middleware's "are these cookies still good?" check. Every request gets a :class:`Decision` with
CloudFront's error code and one sentence naming the cause; nothing a request carries can raise.

Checks run in CloudFront's order, which also makes the first failure the most useful one: key id,
hash algorithm, signature encoding, policy encoding, the signature itself, and only then the
policy's content, resource, dates and IP. So a forged or altered policy says "signature does not
match" while a genuine but expired one says when it expired.

CloudFront documents the code for most failures; where it does not, this module picks the closest:

===================================================  ==================  ======================
Case                                                 Code                Source
===================================================  ==================  ======================
no Key-Pair-Id, or an empty one                      MissingKey          documented
Key-Pair-Id not among the trusted keys               InvalidKey          documented
Signature not CloudFront base64                      MalformedSignature  documented
no Signature, or an empty one                        MalformedSignature  chosen: nothing to
                                                                         decode
Hash-Algorithm other than exactly SHA1 or SHA256     MalformedSignature  chosen: the signature
                                                                         cannot be read
Policy not base64, not JSON, or not one statement    MalformedPolicy     documented
with an integer DateLessThan (strings, floats,
booleans, epochs past 2038 such as milliseconds,
IPv6 or garbage in IpAddress, unknown fields):
``Policy.from_text``, the package's one parser
neither Policy nor Expires, or both                  MalformedPolicy     chosen: no single
                                                                         policy to check
Expires not 1-10 ASCII digits up to MAX_EPOCH        MalformedPolicy     chosen: it is the
                                                                         canned policy's date
one field sent twice with different values           AccessDenied        chosen: CloudFront
(two cookies from different Domain/Path scopes,                          could read either;
or a repeated query parameter)                                           refuse, do not guess
bad signature, resource not covered, expired         AccessDenied        documented
(now >= DateLessThan), not yet valid (now <=
DateGreaterThan), client IP outside the range
policy has an IpAddress but the client IP is         AccessDenied        chosen: it cannot be
unknown (``client_ip=None``)                                             shown to be in range
===================================================  ==================  ======================

A custom policy without a Resource is allowed, because CloudFront grants every file of every
distribution that trusts the key; the reason says so.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Literal

from cfcookie_middleware.cookies import parse_cookie_pairs
from cfcookie_middleware.signing import (
    HASHES,
    MAX_EPOCH,
    SIGNED_URL_PARAMS,
    ConfigurationError,
    Policy,
    PublicKeySource,
    VerifyingKey,
    When,
    b64decode,
    canned_policy,
    load_public_key,
    resource_covers,
    signature_matches,
    to_epoch,
    validate_key_pair_id,
    viewer_address,
)

__all__ = ["Code", "Decision", "Verifier"]

Code = Literal["MissingKey", "InvalidKey", "MalformedSignature", "MalformedPolicy", "AccessDenied"]

_COOKIE_PREFIX = "CloudFront-"
_EXPIRES = re.compile(r"[0-9]{1,10}")
_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
_URL_WINS = " (the URL carries signed-URL parameters, so CloudFront ignores the cookies)"


@dataclass(frozen=True)
class Decision:
    """Whether CloudFront would serve the request; if not, its error code; either way, why.

    ``policy`` is set once the signature checked out, refusals for dates or IP included, so a
    caller can tell an expired grant from a forged one (``resource="*"`` for a policy without a
    Resource). ``key_pair_id`` is the key id the request named, if any.
    """

    allowed: bool
    code: Code | None
    reason: str
    policy: Policy | None = None
    key_pair_id: str | None = None


class _Refusal(Exception):
    def __init__(self, code: Code, reason: str, policy: Policy | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.policy = code, reason, policy


def _split_signed_url(url: str) -> tuple[str, list[tuple[str, str]]]:
    """The URL as CloudFront matches it (no fragment, signing parameters removed, the rest of the
    query kept byte for byte) and the signing parameters."""
    base, sep, query = url.partition("#")[0].partition("?")
    kept: list[str] = []
    fields: list[tuple[str, str]] = []
    for param in query.split("&") if sep else ():
        name, _, value = param.partition("=")
        if name in SIGNED_URL_PARAMS:
            fields.append((name, value))
        else:
            kept.append(param)
    return (base + "?" + "&".join(kept) if kept else base), fields


def _show(text: str, limit: int = 200) -> str:
    """Short printable ASCII as is, else a truncated repr, so that a reason stays one line."""
    if text and len(text) <= limit and text.isascii() and text.isprintable() and " " not in text:
        return text
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _at(epoch: int, now: int) -> str:
    """``2026-01-01T18:00:00Z (3 h ago)``."""
    moment = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    span = abs(epoch - now)
    unit, size = next((unit, size) for unit, size in _UNITS if span >= 2 * size or size == 1)
    amount = f"{span // size} {unit}"
    return f"{moment} ({'in ' + amount if epoch > now else amount + ' ago'})"


def _malformed(reason: str) -> _Refusal:
    return _Refusal("MalformedPolicy", reason)


def _parse_policy(data: bytes) -> tuple[Policy, str]:
    """The terms of a custom policy, read by the package's one strict parser, and its name for a
    reason."""
    try:
        policy = Policy.from_text(data)
    except ValueError as exc:
        raise _malformed(f"the {exc}") from None
    if policy.resource == "*":
        return policy, 'custom policy for every URL (Resource missing or "*")'
    return policy, f"custom policy {_show(policy.resource)}"


def _signature(fields: dict[str, str], prefix: str) -> tuple[str, bytes]:
    """The hash algorithm's name and the decoded signature."""
    hash_name = fields.get("Hash-Algorithm", "SHA1")
    if hash_name not in HASHES:
        raise _Refusal(
            "MalformedSignature",
            f"{prefix}Hash-Algorithm {_show(hash_name, 40)} is neither SHA1 nor SHA256, so the "
            "signature cannot be checked",
        )
    text = fields.get("Signature", "")
    if not text:
        raise _Refusal("MalformedSignature", f"no {prefix}Signature was sent with the others")
    try:
        signature = b64decode(text)
    except ValueError:
        signature = b""
    if not signature:
        raise _Refusal(
            "MalformedSignature",
            f"{prefix}Signature {_show(text, 60)} is not CloudFront base64 (A-Z a-z 0-9 - ~ _, "
            "never quoted)",
        )
    return hash_name, signature


def _signed_data(url: str, fields: dict[str, str], prefix: str) -> tuple[bytes, int | None]:
    """The policy bytes the signature must cover, and the canned expiry (None when custom)."""
    policy_text, expires_text = fields.get("Policy"), fields.get("Expires")
    if policy_text is not None and expires_text is not None:
        raise _malformed(f"both {prefix}Policy and {prefix}Expires were sent; clear the stale one")
    if policy_text is not None:
        try:
            return b64decode(policy_text), None
        except ValueError:
            raise _malformed(f"{prefix}Policy is not CloudFront base64") from None
    if expires_text is None:
        raise _malformed(f"neither {prefix}Policy nor {prefix}Expires was sent")
    if not _EXPIRES.fullmatch(expires_text) or int(expires_text) > MAX_EPOCH:
        raise _malformed(
            f"{prefix}Expires {_show(expires_text, 40)} is not integer epoch seconds up to "
            f"{MAX_EPOCH}"
        )
    # CloudFront rebuilds the canned policy from the URL; encoding cannot fail on any str.
    expires = int(expires_text)
    return canned_policy(url, expires).encode("utf-8", "surrogatepass"), expires


def _check_terms(policy: Policy, what: str, url: str, client_ip: str | None, now: int) -> None:
    """Resource, dates and IP, in the order that gives the most useful reason."""
    if not resource_covers(policy.resource, url):
        reason = f"policy resource {_show(policy.resource)} does not cover {_show(url)}"
    elif now >= policy.expires:
        reason = f"the {what} expired at {_at(policy.expires, now)}"
    elif policy.not_before is not None and now <= policy.not_before:
        reason = f"the {what} is valid only after {_at(policy.not_before, now)}"
    elif policy.ip_network is None:
        return
    elif client_ip is None:
        reason = (
            f"the policy admits only client IPs in {policy.ip_network} but the client IP is "
            "unknown; pass it (client_ip=, or --client-ip on the command line)"
        )
    else:
        try:
            address = viewer_address(client_ip)
        except ValueError:
            reason = f"the client IP {_show(client_ip, 60)} is not an IP address"
        else:
            if address in ipaddress.ip_network(policy.ip_network):
                return
            reason = (
                f"the client IP {address} is outside the policy's IpAddress {policy.ip_network}"
            )
    raise _Refusal("AccessDenied", reason, policy)


def _epoch_now(now: When | None) -> int:
    return int(time.time()) if now is None else to_epoch(now, name="now")


class Verifier:
    """Checks signed URLs and cookies against trusted public keys, like a CloudFront key group."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[str, PublicKeySource]) -> None:
        if not keys:
            raise ConfigurationError(
                "keys: empty; pass {key pair id: public key}, such as "
                "{'K2JCJMDEHXQW5F': 'public_key.pem'}"
            )
        self._keys: dict[str, VerifyingKey] = {
            validate_key_pair_id(key_id): load_public_key(key, name=f"public key {key_id}")
            for key_id, key in keys.items()
        }

    def check_url(
        self, signed_url: str, *, client_ip: str | None = None, now: When | None = None
    ) -> Decision:
        """Would CloudFront serve ``signed_url`` (an absolute URL with its signing parameters)?"""
        url, fields = _split_signed_url(signed_url)
        return self._evaluate(url, fields, "", client_ip, _epoch_now(now))

    def check_cookies(
        self,
        url: str,
        cookies: Mapping[str, str] | str,
        *,
        client_ip: str | None = None,
        now: When | None = None,
    ) -> Decision:
        """Would CloudFront serve ``url`` to a request carrying ``cookies`` (a mapping or a raw
        ``Cookie`` header)? A URL with signing parameters is a signed URL and wins over them."""
        at = _epoch_now(now)
        base, fields = _split_signed_url(url)
        if fields:
            decision = self._evaluate(base, fields, "", client_ip, at)
            if decision.allowed:
                return decision
            return replace(decision, reason=decision.reason + _URL_WINS)
        pairs = (
            parse_cookie_pairs(cookies)
            if isinstance(cookies, str)
            else [(str(name), str(value)) for name, value in cookies.items()]
        )
        named = [(n[len(_COOKIE_PREFIX) :], v) for n, v in pairs if n.startswith(_COOKIE_PREFIX)]
        return self._evaluate(base, named, _COOKIE_PREFIX, client_ip, at)

    def _evaluate(
        self, url: str, pairs: list[tuple[str, str]], prefix: str, client_ip: str | None, now: int
    ) -> Decision:
        fields: dict[str, str] = {}
        for name, value in pairs:
            if fields.setdefault(name, value) != value:
                return Decision(
                    False,
                    "AccessDenied",
                    f"{prefix}{_show(name, 40)} was sent more than once with different values "
                    "(often a stale cookie from another Domain or Path); clear the stale one",
                )
        key_id = fields.get("Key-Pair-Id", "")
        try:
            return self._decide(url, fields, key_id, prefix, client_ip, now)
        except _Refusal as refusal:
            return Decision(False, refusal.code, refusal.reason, refusal.policy, key_id or None)

    def _decide(
        self,
        url: str,
        fields: dict[str, str],
        key_id: str,
        prefix: str,
        client_ip: str | None,
        now: int,
    ) -> Decision:
        others = [_show(prefix + name, 40) for name in fields if name != "Key-Pair-Id"]
        if not key_id and others:
            raise _Refusal(
                "MissingKey",
                f"{', '.join(others)} came without a {prefix}Key-Pair-Id; send all fields together",
            )
        if not key_id:
            raise _Refusal(
                "MissingKey",
                f"no CloudFront-Key-Pair-Id cookie came with the request for {_show(url)}: the "
                "browser did not send the cookies, usually because their Domain or Path does not "
                "cover this URL or they are Secure and the request is http"
                if prefix
                else f"the URL {_show(url)} has no Key-Pair-Id query parameter",
            )
        key = self._keys.get(key_id)
        if key is None:
            raise _Refusal(
                "InvalidKey",
                f"key pair id {_show(key_id, 40)} is not a trusted key ({', '.join(self._keys)}); "
                "sign with a key of the distribution's key group",
            )
        hash_name, signature = _signature(fields, prefix)
        data, expires = _signed_data(url, fields, prefix)
        if not signature_matches(key, signature, data, hash_name):
            raise _Refusal(
                "AccessDenied",
                f"the signature does not match the canned policy for {_show(url)} expiring "
                f"{expires} under key {key_id} with {hash_name}: a canned policy covers exactly "
                "one URL (scheme, host, path and query), so it was signed for another URL, key "
                "or hash algorithm, or altered"
                if expires is not None
                else f"the signature does not match the custom policy under key {key_id} with "
                f"{hash_name}: the policy or signature was altered, or signed with another key "
                "or hash algorithm",
            )
        policy, what = (
            (Policy(url, expires), f"canned policy for {_show(url)}")
            if expires is not None
            else _parse_policy(data)
        )
        _check_terms(policy, what, url, client_ip, now)
        return Decision(
            True,
            None,
            f"{what} signed by {key_id} with {hash_name}, valid until {_at(policy.expires, now)}",
            policy,
            key_id,
        )
