"""Signing throughput: our Signer beside bare `cryptography` (the physical limit) and botocore.

Each round signs N distinct policies (a different resource each, so nothing can be reused) three
ways, interleaved so the machine's noise hits all of them alike; the best round of each counts.
Run: python benchmarks/bench_signing.py [--policies 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timezone

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cfcookie_middleware import Signer
from cfcookie_middleware.signing import b64encode, canned_policy, custom_policy

EXPIRES = 1_900_000_000


def resources(n: int) -> list[str]:
    return [f"https://media.example.com/users/{i}/video.mp4" for i in range(n)]


def bare(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    algorithm: hashes.HashAlgorithm,
    policies: list[bytes],
) -> Callable[[], None]:
    """Only the signature over bytes prepared in advance: no policy, no encoding."""

    def run() -> None:
        if isinstance(key, rsa.RSAPrivateKey):
            pkcs1 = padding.PKCS1v15()
            for policy in policies:
                key.sign(policy, pkcs1, algorithm)
        else:
            ecdsa = ec.ECDSA(algorithm)
            for policy in policies:
                key.sign(policy, ecdsa)

    return run


def least(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    algorithm: hashes.HashAlgorithm,
    targets: list[str],
    canned: bool,
) -> Callable[[], None]:
    """The least any Python signer must do per distinct policy: write the policy text, sign it,
    and encode it and the signature in CloudFront's base64; nothing checked, nothing named."""
    if isinstance(key, rsa.RSAPrivateKey):
        pkcs1 = padding.PKCS1v15()
        sign: Callable[[bytes], bytes] = lambda data: key.sign(data, pkcs1, algorithm)  # noqa: E731
    else:
        ecdsa = ec.ECDSA(algorithm)
        sign = lambda data: key.sign(data, ecdsa)  # noqa: E731
    policy = canned_policy if canned else custom_policy

    def run() -> None:
        for target in targets:
            data = policy(target, EXPIRES).encode()
            b64encode(data)
            b64encode(sign(data))

    return run


def ours(signer: Signer, targets: list[str]) -> Callable[[], None]:
    def run() -> None:
        for target in targets:
            signer.sign_cookies(target, expires=EXPIRES)

    return run


def botocore_urls(
    boto: CloudFrontSigner, urls: list[str], wild: list[str] | None
) -> Callable[[], None]:
    """botocore signs URLs only (SHA-1, RSA through a callback): its closest equivalent."""
    expiry = datetime.fromtimestamp(EXPIRES, tz=timezone.utc)

    def run() -> None:
        if wild is None:
            for url in urls:
                boto.generate_presigned_url(url, date_less_than=expiry)
        else:
            for url, pattern in zip(urls, wild, strict=True):
                boto.generate_presigned_url(url, policy=boto.build_policy(pattern, expiry))

    return run


def measure(contenders: dict[str, Callable[[], None]], n: int, rounds: int) -> dict[str, float]:
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: n / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.policies
    urls = resources(n)
    wild = [u.rsplit("/", 1)[0] + "/*" for u in urls]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pkcs1 = padding.PKCS1v15()
    boto = CloudFrontSigner("K2JCJMDEHXQW5F", lambda m: rsa_key.sign(m, pkcs1, hashes.SHA1()))

    print(f"{n} distinct policies per round, best of {args.rounds} rounds; policies/second\n")
    print(
        f"{'case':<34}{'bare crypto':>12}{'least':>8}{'ratio':>7}{'Signer':>8}{'ratio':>7}"
        f"{'botocore':>10}{'ratio':>7}"
    )
    cases = [
        ("RSA-2048 SHA1 canned cookie", rsa_key, "SHA1", urls, True),
        ("RSA-2048 SHA1 custom cookie", rsa_key, "SHA1", wild, False),
        ("RSA-2048 SHA256 custom cookie", rsa_key, "SHA256", wild, False),
        ("ECDSA-P256 SHA256 custom cookie", ec_key, "SHA256", wild, False),
        ("ECDSA-P256 SHA1 custom cookie", ec_key, "SHA1", wild, False),
    ]
    for label, key, hash_name, targets, canned in cases:
        signer = Signer("K2JCJMDEHXQW5F", key, hash_algorithm=hash_name)
        algorithm = hashes.SHA1() if hash_name == "SHA1" else hashes.SHA256()
        texts = [
            (canned_policy(t, EXPIRES) if canned else custom_policy(t, EXPIRES)).encode()
            for t in targets
        ]
        contenders = {
            "bare": bare(key, algorithm, texts),
            "least": least(key, algorithm, targets, canned),
            "ours": ours(signer, targets),
        }
        if key is rsa_key and hash_name == "SHA1":
            contenders["boto"] = botocore_urls(boto, urls, None if canned else wild)
        rate = measure(contenders, n, args.rounds)
        boto_cells = (
            f"{rate['boto']:>10.0f}{rate['ours'] / rate['boto']:>7.2f}" if "boto" in rate else ""
        )
        print(
            f"{label:<34}{rate['bare']:>12.0f}{rate['least']:>8.0f}"
            f"{rate['least'] / rate['bare']:>7.2f}{rate['ours']:>8.0f}"
            f"{rate['ours'] / rate['bare']:>7.2f}{boto_cells}"
        )
    print(
        "\nratio columns: least / bare crypto, Signer / bare crypto, Signer / botocore (higher is "
        "better); least is the policy text, the signature and the two base64 encodings that any "
        "Python signer must pay, with no input checked"
    )


if __name__ == "__main__":
    main()
