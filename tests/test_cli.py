"""The ``cfcookie`` command line, run in-process through ``main`` and once as installed scripts.

Expected signatures come from AWS's published vectors (tests/vectors/sep-vectors.json), never
from the code under test; where a test compares with ``Signer`` it is to show that the command
line adds nothing of its own.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import VECTORS, require_executable, self_signed_certificate
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cfcookie_middleware.cli import COMMANDS, main, parse_when
from cfcookie_middleware.signing import ConfigurationError, Signer, to_epoch

KEY_ID = "K1TESTKEY"
ECDSA_KEY_ID = "K2ECDSATEST"
PUBLIC_KEY = VECTORS / "test-rsa-key-public.pem"
ECDSA_PUBLIC_KEY = VECTORS / "test-ecdsa-key-public.pem"
EXPIRES = 1767290400
# Hand derivation: 2026-01-01T00:00:00Z is 1767225600 (1735689600 for 2025-01-01 plus 365 days
# of 86400 s), and the vectors' 1767290400 is 64800 s (18 h) later.
EXPIRES_ISO = "2026-01-01T18:00:00Z"
# The vectors' activeDate 1767200000 is 25600 s (7 h 6 min 40 s) before 2026-01-01T00:00:00Z.
ACTIVE_ISO = "2025-12-31T16:53:20Z"
BEFORE_EXPIRY = str(EXPIRES - 400)
CF_ENV = (
    "CLOUDFRONT_KEY_PAIR_ID",
    "CLOUDFRONT_PRIVATE_KEY",
    "CLOUDFRONT_PRIVATE_KEY_FILE",
    "CLOUDFRONT_PRIVATE_KEY_PASSPHRASE",
    "CLOUDFRONT_HASH_ALGORITHM",
)


@pytest.fixture(autouse=True)
def _no_cloudfront_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment fallback must only see what a test puts there."""
    for name in CF_ENV:
        monkeypatch.delenv(name, raising=False)


def vector(sep_vectors: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(case for case in sep_vectors["cases"] if case["id"] == case_id)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def succeed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What ``cfcookie *argv`` prints, once it exited 0 with nothing on stderr."""
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, ""), err
    return out


def key_args(key_path: Path, key_id: str = KEY_ID) -> list[str]:
    return ["--key-pair-id", key_id, "--private-key", str(key_path)]


def cf_b64decode(text: str) -> bytes:
    """CloudFront's base64 undone by hand: '-' '_' '~' back to '+' '=' '/'."""
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")))


def assert_one_error_line(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cfcookie: error: ")
    for needle in needles:
        assert needle in lines[0]


# --- sign-cookies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hash_option", "signature_field"),
    [([], "sig_sha1"), (["--hash-algorithm", "SHA256"], "sig_sha256")],
)
def test_sign_cookies_canned_matches_vector_and_signer(
    capsys: pytest.CaptureFixture[str],
    sep_vectors: dict[str, Any],
    rsa_key_path: Path,
    hash_option: list[str],
    signature_field: str,
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    out = succeed(
        capsys,
        "sign-cookies",
        *key_args(rsa_key_path),
        "--resource",
        case["resource"],
        "--expires",
        str(EXPIRES),
        *hash_option,
    )
    cookies = json.loads(out)
    expected = {
        "CloudFront-Expires": str(EXPIRES),
        "CloudFront-Signature": case[signature_field],
        "CloudFront-Key-Pair-Id": KEY_ID,
    }
    if hash_option:
        expected["CloudFront-Hash-Algorithm"] = "SHA256"
    assert cookies == expected
    signer = Signer(KEY_ID, rsa_key_path, hash_algorithm=hash_option[-1] if hash_option else None)
    assert cookies == signer.sign_cookies(case["resource"], expires=EXPIRES)


def test_sign_cookies_custom_policy_matches_vector(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any], rsa_key_path: Path
) -> None:
    case = vector(sep_vectors, "custom-policy-cookies")
    code, out, _ = run(
        capsys,
        "sign-cookies",
        *key_args(rsa_key_path),
        "--resource",
        case["resource"],
        "--expires",
        EXPIRES_ISO,
        "--ip-address",
        case["ipRange"],
        "--hash-algorithm",
        "sha1",  # case-insensitive, as Signer takes it
    )
    assert code == 0
    assert json.loads(out) == {
        "CloudFront-Policy": case["policyB64"],
        "CloudFront-Signature": case["sig_sha1"],
        "CloudFront-Key-Pair-Id": KEY_ID,
    }


def test_sign_cookies_ecdsa_signature_verifies_with_the_published_public_key(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any], ecdsa_key_path: Path
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    code, out, _ = run(
        capsys,
        "sign-cookies",
        *key_args(ecdsa_key_path, ECDSA_KEY_ID),
        "--resource",
        case["resource"],
        "--expires",
        str(EXPIRES),
    )
    assert code == 0
    cookies = json.loads(out)
    assert cookies["CloudFront-Hash-Algorithm"] == "SHA256"
    public = serialization.load_pem_public_key(ECDSA_PUBLIC_KEY.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(  # raises InvalidSignature on a mismatch
        cf_b64decode(cookies["CloudFront-Signature"]),
        case["policyJson"].encode(),
        ec.ECDSA(hashes.SHA256()),
    )


def test_sign_cookies_header_format(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any], rsa_key_path: Path
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    argv = ["sign-cookies", *key_args(rsa_key_path), "--resource", case["resource"]]
    out = succeed(capsys, *argv, "--expires", str(EXPIRES), "--format", "header")
    attributes = "; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert out.splitlines() == [
        f"Set-Cookie: CloudFront-Expires={EXPIRES}{attributes}",
        f"Set-Cookie: CloudFront-Signature={case['sig_sha1']}{attributes}",
        f"Set-Cookie: CloudFront-Key-Pair-Id={KEY_ID}{attributes}",
    ]
    code, out, _ = run(
        capsys,
        *argv,
        "--expires",
        str(EXPIRES),
        "--format",
        "header",
        "--cookie-domain",
        ".example.com",
        "--cookie-path",
        "/media/",
    )
    assert code == 0
    assert out.splitlines()[1] == (
        f"Set-Cookie: CloudFront-Signature={case['sig_sha1']}; Domain=.example.com; "
        "Path=/media/; Secure; HttpOnly; SameSite=Lax"
    )
    assert '"' not in out


def test_sign_cookies_from_environment(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sep_vectors: dict[str, Any],
    rsa_key_path: Path,
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    monkeypatch.setenv("CLOUDFRONT_KEY_PAIR_ID", KEY_ID)
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY_FILE", str(rsa_key_path))
    argv = ["sign-cookies", "--resource", case["resource"], "--expires", str(EXPIRES)]
    out = succeed(capsys, *argv)
    assert json.loads(out)["CloudFront-Signature"] == case["sig_sha1"]
    # --hash-algorithm still applies to a key from the environment.
    out = succeed(capsys, *argv, "--hash-algorithm", "SHA256")
    assert json.loads(out)["CloudFront-Signature"] == case["sig_sha256"]


def test_private_key_from_stdin(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sep_vectors: dict[str, Any],
    rsa_key_path: Path,
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(rsa_key_path.read_bytes())))
    code, out, _ = run(
        capsys,
        "sign-cookies",
        "--key-pair-id",
        KEY_ID,
        "--private-key",
        "-",
        "--resource",
        case["resource"],
        "--expires",
        str(EXPIRES),
    )
    assert code == 0
    assert json.loads(out)["CloudFront-Signature"] == case["sig_sha1"]


def test_encrypted_private_key(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sep_vectors: dict[str, Any],
    rsa_key_path: Path,
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    key = serialization.load_pem_private_key(rsa_key_path.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    argv = [
        "sign-cookies",
        *key_args(encrypted),
        "--resource",
        case["resource"],
        "--expires",
        str(EXPIRES),
    ]
    assert_one_error_line(*run(capsys, *argv), "encrypted", "passphrase")
    out = succeed(capsys, *argv, "--passphrase", "s3cret")
    assert json.loads(out)["CloudFront-Signature"] == case["sig_sha1"]
    monkeypatch.setenv("CLOUDFRONT_PRIVATE_KEY_PASSPHRASE", "s3cret")
    out = succeed(capsys, *argv)
    assert json.loads(out)["CloudFront-Signature"] == case["sig_sha1"]


def test_durations_count_from_now(capsys: pytest.CaptureFixture[str], rsa_key_path: Path) -> None:
    before = int(time.time())
    code, out, _ = run(
        capsys,
        "sign-cookies",
        *key_args(rsa_key_path),
        "--resource",
        "https://media.example.com/videos/*",
        "--expires",
        "2h",
        "--not-before=-5m",
    )
    after = int(time.time())
    assert code == 0
    policy = json.loads(cf_b64decode(json.loads(out)["CloudFront-Policy"]))
    condition = policy["Statement"][0]["Condition"]
    assert before + 7200 <= condition["DateLessThan"]["AWS:EpochTime"] <= after + 7200
    assert before - 300 <= condition["DateGreaterThan"]["AWS:EpochTime"] <= after - 300


# --- sign-url ---------------------------------------------------------------------------------


def test_sign_url_keeps_existing_query_first(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any], rsa_key_path: Path
) -> None:
    case = vector(sep_vectors, "canned-policy-existing-params")
    out = succeed(
        capsys,
        "sign-url",
        *key_args(rsa_key_path),
        "--url",
        case["resource"],
        "--expires",
        str(EXPIRES),
    )
    # The AWS CLI's layout: the URL's own query, then Expires, Signature, Key-Pair-Id.
    assert out == (
        f"{case['resource']}&Expires={EXPIRES}&Signature={case['sig_sha1']}&Key-Pair-Id={KEY_ID}\n"
    )


def test_sign_url_custom_policy_with_iso_times(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any], rsa_key_path: Path
) -> None:
    case = vector(sep_vectors, "custom-policy-active-date")
    code, out, _ = run(
        capsys,
        "sign-url",
        *key_args(rsa_key_path),
        "--url",
        case["resource"],
        "--expires",
        "2026-01-01T19:00:00+01:00",  # the same instant as EXPIRES_ISO
        "--not-before",
        ACTIVE_ISO,
    )
    assert code == 0
    policy = base64.b64encode(case["policyJson"].encode()).decode()
    policy = policy.translate(str.maketrans("+=/", "-_~"))
    assert out.strip() == (
        f"{case['resource']}?Policy={policy}&Signature={case['sig_sha1']}&Key-Pair-Id={KEY_ID}"
    )


def test_sign_url_with_wildcard_resource(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any], rsa_key_path: Path
) -> None:
    case = vector(sep_vectors, "custom-policy-wildcard")
    code, out, _ = run(
        capsys,
        "sign-url",
        *key_args(rsa_key_path),
        "--url",
        case["applyTo"],
        "--resource",
        case["resource"],
        "--expires",
        str(EXPIRES),
    )
    assert code == 0
    assert f"&Signature={case['sig_sha1']}&" in out
    assert out.startswith(case["applyTo"] + "?Policy=")


# --- verify -----------------------------------------------------------------------------------


def canned_cookie_header(case: dict[str, Any]) -> str:
    """The Cookie header a browser sends after receiving the vector's canned cookies."""
    return (
        f"CloudFront-Expires={case['expires']}; CloudFront-Signature={case['sig_sha1']}; "
        f"CloudFront-Key-Pair-Id={KEY_ID}"
    )


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run(capsys, "verify", "--public-key", f"{KEY_ID}={PUBLIC_KEY}", *argv)


def test_verify_allows_vector_cookies(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any]
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    code, out, err = verify(
        capsys,
        "--url",
        case["resource"],
        "--cookie",
        canned_cookie_header(case),
        "--now",
        BEFORE_EXPIRY,
    )
    assert (code, err) == (0, "")
    assert out.startswith("allowed: ")
    assert not out.startswith("allowed: allowed")
    assert len(out.splitlines()) == 1


def test_verify_allows_vector_signed_url(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any]
) -> None:
    case = vector(sep_vectors, "canned-policy-existing-params")
    url = f"{case['resource']}&Expires={EXPIRES}&Signature={case['sig_sha1']}&Key-Pair-Id={KEY_ID}"
    code, out, _ = verify(capsys, "--url", url, "--now", EXPIRES_ISO.replace("18:00", "17:00"))
    assert code == 0
    assert out.startswith("allowed: ")


def test_verify_custom_policy_checks_client_ip(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any]
) -> None:
    case = vector(sep_vectors, "custom-policy-cookies")
    cookie = (
        f"CloudFront-Policy={case['policyB64']}; CloudFront-Signature={case['sig_sha1']}; "
        f"CloudFront-Key-Pair-Id={KEY_ID}"
    )
    argv = ["--url", "https://d111111abcdef8.cloudfront.net/a/b.jpg", "--cookie", cookie]
    code, out, _ = verify(capsys, *argv, "--now", BEFORE_EXPIRY, "--client-ip", "10.1.2.3")
    assert code == 0
    assert out.startswith("allowed: ")
    code, out, _ = verify(capsys, *argv, "--now", BEFORE_EXPIRY, "--client-ip", "192.0.2.1")
    assert code == 1
    assert out.startswith("AccessDenied: ")


def test_verify_refusals(capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any]) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    header = canned_cookie_header(case)
    expired = verify(capsys, "--url", case["resource"], "--cookie", header, "--now", str(EXPIRES))
    no_cookies = verify(capsys, "--url", case["resource"], "--now", BEFORE_EXPIRY)
    other_url = verify(
        capsys,
        "--url",
        case["resource"].replace("image.jpg", "other.jpg"),
        "--cookie",
        header,
        "--now",
        BEFORE_EXPIRY,
    )
    unknown_key = run(
        capsys,
        "verify",
        "--public-key",
        f"K9OTHER={PUBLIC_KEY}",
        "--url",
        case["resource"],
        "--cookie",
        header,
    )
    for (code, out, err), prefix in [
        (expired, "AccessDenied: "),
        (no_cookies, "MissingKey: "),
        (other_url, "AccessDenied: "),
        (unknown_key, "InvalidKey: "),
    ]:
        assert code == 1
        assert err == ""
        assert out.startswith(prefix), out
        assert len(out.splitlines()) == 1
        assert len(out) > len(prefix) + 10  # a reason follows the code


def test_verify_takes_several_keys(
    capsys: pytest.CaptureFixture[str], sep_vectors: dict[str, Any]
) -> None:
    case = vector(sep_vectors, "canned-policy-basic")
    code, out, _ = run(
        capsys,
        "verify",
        "--public-key",
        f"{ECDSA_KEY_ID}={ECDSA_PUBLIC_KEY}",
        "--public-key",
        f"{KEY_ID}={PUBLIC_KEY}",
        "--url",
        case["resource"],
        "--cookie",
        canned_cookie_header(case),
        "--now",
        BEFORE_EXPIRY,
    )
    assert code == 0
    assert out.startswith("allowed: ")


# --- keygen -----------------------------------------------------------------------------------


@pytest.fixture
def no_umask() -> Iterator[None]:
    """umask 0, so the modes seen are exactly the ones keygen asked for."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.usefixtures("no_umask")
@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_keygen_writes_a_working_key_pair(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key_type: str
) -> None:
    out_dir = tmp_path / "keys" / "new"  # created on demand
    out = succeed(capsys, "keygen", "--type", key_type, "--out", str(out_dir))
    private_path, public_path = out_dir / "private_key.pem", out_dir / "public_key.pem"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")  # SPKI
    private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    public = serialization.load_pem_public_key(public_path.read_bytes())
    message = b"policy"
    if key_type == "rsa":
        assert isinstance(private, rsa.RSAPrivateKey)
        assert isinstance(public, rsa.RSAPublicKey)
        assert private.key_size == 2048
        public.verify(
            private.sign(message, padding.PKCS1v15(), hashes.SHA1()),
            message,
            padding.PKCS1v15(),
            hashes.SHA1(),
        )
    else:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(private.curve, ec.SECP256R1)
        public.verify(
            private.sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256())
        )
    assert str(private_path) in out
    assert str(public_path) in out
    assert "Key management > Public keys" in out
    assert "key group" in out


def test_keygen_default_is_rsa_in_current_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    succeed(capsys, "keygen")
    private = serialization.load_pem_private_key(
        (tmp_path / "private_key.pem").read_bytes(), password=None
    )
    assert isinstance(private, rsa.RSAPrivateKey)


@pytest.mark.parametrize("existing", ["private_key.pem", "public_key.pem"])
def test_keygen_never_overwrites(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, existing: str
) -> None:
    (tmp_path / existing).write_text("keep me")
    code, out, err = run(capsys, "keygen", "--out", str(tmp_path))
    assert_one_error_line(code, out, err, "--out", str(tmp_path / existing), "already exists")
    assert (tmp_path / existing).read_text() == "keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == [existing]


def test_keygen_twice_refuses_the_second_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "keygen", "--type", "ecdsa", "--out", str(tmp_path))[0] == 0
    first = (tmp_path / "private_key.pem").read_bytes()
    assert_one_error_line(*run(capsys, "keygen", "--out", str(tmp_path)), "already exists")
    assert (tmp_path / "private_key.pem").read_bytes() == first


def test_keygen_unwritable_out_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An OSError while writing (here: a file where a parent directory should be) is exit 2."""
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "keys"
    code, out, err = run(capsys, "keygen", "--out", str(target))
    assert_one_error_line(code, out, err, str(target), "Not a directory")


def test_keygen_refuses_even_in_a_race(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file appears between the existence check and the write: O_EXCL still refuses."""
    target = tmp_path / "private_key.pem"
    generate = rsa.generate_private_key

    def generate_then_race(public_exponent: int, key_size: int) -> rsa.RSAPrivateKey:
        target.write_text("someone else's key")
        return generate(public_exponent=public_exponent, key_size=key_size)

    monkeypatch.setattr(rsa, "generate_private_key", generate_then_race)
    assert_one_error_line(*run(capsys, "keygen", "--out", str(tmp_path)), "already exists")
    assert target.read_text() == "someone else's key"
    assert not (tmp_path / "public_key.pem").exists()


# --- WHEN -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1767290400", 1767290400),
        (" 1767290400 ", 1767290400),
        ("0", 0),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(days=7)),
        ("+15m", timedelta(minutes=15)),
        ("-5m", timedelta(minutes=-5)),
        (EXPIRES_ISO, datetime(2026, 1, 1, 18, tzinfo=timezone.utc)),
        ("2026-01-01T18:00:00z", datetime(2026, 1, 1, 18, tzinfo=timezone.utc)),
        ("2026-01-01T18:00:00+00:00", datetime(2026, 1, 1, 18, tzinfo=timezone.utc)),
        (
            "2026-01-01T19:00:00+01:00",
            datetime(2026, 1, 1, 19, tzinfo=timezone(timedelta(hours=1))),
        ),
        # A date alone is midnight UTC, as the AWS CLI reads it.
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_when(text: str, expected: object) -> None:
    parsed = parse_when(text)
    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize(
    "text", [EXPIRES_ISO, "2026-01-01T19:00:00+01:00", "2026-01-01T13:00:00-05:00", "1767290400"]
)
def test_parse_when_feeds_to_epoch(text: str) -> None:
    assert to_epoch(parse_when(text), name="t") == EXPIRES


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("2026-01-01T18:00:00", ["no UTC offset", "add Z or +00:00"]),
        ("2026-01-01T00:00", ["no UTC offset", "add Z or +00:00"]),
        ("5y", ["unknown unit 'y'", "s, m, h, d or w"]),
        ("10ms", ["unknown unit 'ms'"]),
        ("30M", ["unknown unit 'M'"]),
        ("tomorrow", ["is not a time", "epoch seconds"]),
        ("1767290400.5", ["is not a time"]),
        ("", ["is not a time"]),
        ("99999999999999999999d", ["far too long"]),
    ],
)
def test_parse_when_refusals(text: str, needles: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_when(text, name="--expires")
    message = str(info.value)
    assert message.startswith("--expires: ")
    for needle in needles:
        assert needle in message


def test_millisecond_epoch_refused(capsys: pytest.CaptureFixture[str], rsa_key_path: Path) -> None:
    code, out, err = run(
        capsys,
        "sign-cookies",
        *key_args(rsa_key_path),
        "--resource",
        "https://media.example.com/a.jpg",
        "--expires",
        "1767290400000",
    )
    assert_one_error_line(code, out, err, "--expires", "milliseconds")


def test_an_hour_given_as_bare_seconds_is_refused_as_a_duration(
    capsys: pytest.CaptureFixture[str], rsa_key_path: Path
) -> None:
    """``--expires 3600`` (meant as an hour) would sign a policy that ended in 1970."""
    code, out, err = run(
        capsys,
        "sign-cookies",
        *key_args(rsa_key_path),
        *("--resource", "https://media.example.com/a.jpg", "--expires", "3600"),
    )
    assert_one_error_line(code, out, err, "expires", "looks like a duration", "3600s")


def test_the_aws_clis_spellings_sign_the_same_policy(
    capsys: pytest.CaptureFixture[str], rsa_key_path: Path
) -> None:
    """``aws cloudfront sign`` habits: --date-less-than, --date-greater-than, file:// paths and
    a date alone (midnight UTC). The policy is checked against times worked out by hand."""
    code, out, _ = run(
        capsys,
        "sign-cookies",
        *("--key-pair-id", KEY_ID, "--private-key", f"file://{rsa_key_path}"),
        *("--resource", "https://media.example.com/*", "--date-less-than", "2037-01-02"),
        *("--date-greater-than", "2037-01-01T00:00:00Z", "--ip-address", "192.0.2.0/24"),
    )
    assert code == 0
    policy = json.loads(cf_b64decode(json.loads(out)["CloudFront-Policy"]))
    condition = policy["Statement"][0]["Condition"]
    assert condition["DateLessThan"]["AWS:EpochTime"] == 2114467200  # 24473 days * 86400 s
    assert condition["DateGreaterThan"]["AWS:EpochTime"] == 2114380800  # 24472 days * 86400 s
    assert condition["IpAddress"]["AWS:SourceIp"] == "192.0.2.0/24"


def test_an_option_and_its_aws_cli_alias_together_are_given_twice(
    capsys: pytest.CaptureFixture[str], rsa_key_path: Path
) -> None:
    code, out, err = run(
        capsys,
        "sign-url",
        *key_args(rsa_key_path),
        *("--url", "https://media.example.com/a.jpg", "--expires", "1h"),
        *("--date-less-than", "2h"),
    )
    assert_one_error_line(code, out, err, "given twice")


def test_help_names_the_aws_cli_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    out = succeed(capsys, "sign-cookies", "--help")
    for spelling in ("--date-less-than", "--date-greater-than", "file://", "midnight UTC"):
        assert spelling in out


# --- errors, help and version ------------------------------------------------------------------

SIGN = ["--resource", "https://media.example.com/a.jpg", "--expires", "1h"]
ERROR_CASES: list[tuple[str, list[str], list[str]]] = [
    ("no command", [], ["choose a command", "sign-cookies"]),
    ("unknown command", ["sign"], ["invalid choice"]),
    ("unknown option", ["keygen", "--bits", "4096"], ["unrecognized arguments: --bits"]),
    ("missing option", ["sign-cookies", "--resource", "https://a.example.com/"], ["--expires"]),
    ("bad WHEN", ["sign-url", "--url", "https://a.example.com/", "--expires", "soon"], ["soon"]),
    ("naive ISO", ["sign-cookies", *SIGN[:3], "2026-01-01T00:00:00"], ["add Z or +00:00"]),
    ("unknown unit", ["sign-cookies", *SIGN[:3], "3y"], ["unknown unit"]),
    ("past 2038", ["sign-cookies", *SIGN[:3], "2040-01-01T00:00:00Z"], ["2038"]),
    ("no key at all", ["sign-cookies", *SIGN], ["--key-pair-id", "CLOUDFRONT_KEY_PAIR_ID"]),
    ("id without key", ["sign-cookies", *SIGN, "--key-pair-id", KEY_ID], ["--private-key"]),
    ("key without id", ["sign-cookies", *SIGN, "--private-key", "k.pem"], ["--key-pair-id"]),
    ("missing key file", ["sign-url", "--url", "https://a.example.com/", "--expires", "1h",
                          "--key-pair-id", KEY_ID, "--private-key", "/nonexistent/k.pem"],
     ["--private-key", "/nonexistent/k.pem"]),
    ("key file is a directory", ["sign-cookies", *SIGN, "--key-pair-id", KEY_ID,
                                 "--private-key", str(VECTORS)], ["--private-key", "directory"]),
    ("public key to sign", ["sign-cookies", *SIGN, "--key-pair-id", KEY_ID,
                            "--private-key", str(PUBLIC_KEY)], ["public key"]),
    ("bad hash", ["sign-cookies", *SIGN, "--hash-algorithm", "MD5"], ["MD5"]),
    ("json with domain", ["sign-cookies", *SIGN, "--cookie-domain", "example.com"],
     ["--format header"]),
    ("invalid choice", ["keygen", "--type", "dsa"], ["dsa"]),
    ("public key without ID", ["verify", "--public-key", str(PUBLIC_KEY), "--url", "https://a/"],
     ["ID=FILE"]),
    ("public key missing", ["verify", "--public-key", "K1=/nonexistent.pem", "--url", "https://a/"],
     ["--public-key K1", "/nonexistent.pem"]),
    ("public key twice", ["verify", "--public-key", f"K1={PUBLIC_KEY}",
                          "--public-key", f"K1={PUBLIC_KEY}", "--url", "https://a/"],
     ["twice"]),
    ("private key to verify", ["verify", "--public-key", f"K1={VECTORS / 'test-rsa-key.pem'}",
                               "--url", "https://a/"], ["private key"]),
    ("bad --now", ["verify", "--public-key", f"K1={PUBLIC_KEY}", "--url", "https://a/",
                   "--now", "yesterday"], ["--now", "yesterday"]),
    ("keygen into a file", ["keygen", "--out", str(PUBLIC_KEY)], ["--out", "is a file"]),
    # A policy holds one resource and one expiry: a second value must not replace the first.
    ("resource twice", ["sign-cookies", *SIGN, "--resource", "https://b.example.com/"],
     ["--resource is given twice"]),
    ("expires twice", ["sign-url", "--url", "https://a.example.com/", "--expires", "1h",
                       "--expires", "2h"], ["--expires is given twice"]),
    ("negative port", ["edge", "--root", ".", "--public-key", f"K1={PUBLIC_KEY}", "--port", "-1"],
     ["--port", "'-1' is not a port"]),
    # --self-test: were the port accepted, the test would end instead of serving forever.
    ("port past 65535", ["demo", "--self-test", "--app-port", "70000"],
     ["--app-port", "'70000' is not a port"]),
    ("client IP with a port", ["verify", "--public-key", f"K1={PUBLIC_KEY}", "--url", "https://a/",
                               "--client-ip", "203.0.113.5:443"],
     ["--client-ip", "is not an IP address"]),
]  # fmt: skip
SIGNING_ERROR_CASES: list[tuple[str, list[str], list[str]]] = [
    ("bad key id", ["sign-cookies", *SIGN, "--key-pair-id", "k1testkey"], ["key_pair_id"]),
    ("resource without scheme", ["sign-cookies", "--resource", "media.example.com/a.jpg",
                                 "--expires", "1h"], ["https://"]),
    ("IPv6", ["sign-cookies", *SIGN, "--ip-address", "2001:db8::/32"], ["IPv6"]),
    ("starts after it ends", ["sign-cookies", *SIGN, "--not-before", "2h"], ["not_before"]),
    ("glob cookie path", ["sign-cookies", *SIGN, "--format", "header",
                          "--cookie-path", "/videos/*"], ["cookie_path", "literal prefix"]),
    ("URL already signed", ["sign-url", "--url", "https://a.example.com/x?Signature=abc",
                            "--expires", "1h"], ["Signature"]),
    # cloudfront.md: browsers refuse cookies for a public suffix and drop ones over 4,096 bytes.
    ("public suffix domain", ["sign-cookies", *SIGN, "--format", "header",
                              "--cookie-domain", "cloudfront.net"], ["public suffix"]),
    ("cookie over 4096 bytes", ["sign-cookies", "--resource",
                                "https://media.example.com/" + "a" * 3000 + "/*", "--expires", "1h",
                                "--format", "header"], ["over the 4096 bytes browsers keep"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "needles"),
    [pytest.param(argv, needles, id=name) for name, argv, needles in ERROR_CASES],
)
def test_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]
) -> None:
    assert_one_error_line(*run(capsys, *argv), *needles)


@pytest.mark.parametrize(
    ("argv", "needles"),
    [pytest.param(argv, needles, id=name) for name, argv, needles in SIGNING_ERROR_CASES],
)
def test_signing_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], rsa_key_path: Path, argv: list[str], needles: list[str]
) -> None:
    with_key = [*argv, "--private-key", str(rsa_key_path)]
    if "--key-pair-id" not in argv:
        with_key += ["--key-pair-id", KEY_ID]
    assert_one_error_line(*run(capsys, *with_key), *needles)


def test_usage_errors_point_at_the_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "sign-url", "--url", "https://a.example.com/")
    assert "(see 'cfcookie sign-url --help')" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_subcommand_help_shows_an_example(capsys: pytest.CaptureFixture[str], command: str) -> None:
    out = succeed(capsys, command, "--help")
    assert out.startswith(f"usage: cfcookie {command}")
    assert "example:" in out
    assert f"\n  cfcookie {command} " in out  # the example itself, indented as written


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    out = succeed(capsys, "--help")
    for command in ("sign-cookies", "sign-url", "verify", "keygen"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    out = succeed(capsys, "--version")
    assert out == f"cfcookie {version('cfcookie-middleware')}\n"


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_load_no_framework_and_no_public_suffix_list(flag: str) -> None:
    """Every ``cfcookie`` run starts with these imports: they must not pay for a web framework,
    the public suffix list (about 50 ms to load) or the edge's HTTP server."""
    heavy = ("flask", "starlette", "django", "fastapi", "publicsuffixlist", "werkzeug.serving")
    script = (
        "import sys\n"
        "from cfcookie_middleware.cli import main\n"
        "try:\n"
        f"    main([{flag!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(set({heavy!r}) & set(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "cfcookie" in done.stdout
    assert done.stderr.strip() == "[]"


def test_keyboard_interrupt_exits_130_quietly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(public_exponent: int, key_size: int) -> rsa.RSAPrivateKey:
        raise KeyboardInterrupt

    monkeypatch.setattr(rsa, "generate_private_key", interrupted)
    code, out, err = run(capsys, "keygen", "--out", str(tmp_path))
    assert (code, out) == (130, "")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_unexpected_exception_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(public_exponent: int, key_size: int) -> rsa.RSAPrivateKey:
        raise RuntimeError("boom")

    monkeypatch.setattr(rsa, "generate_private_key", broken)
    code, out, err = run(capsys, "keygen", "--out", str(tmp_path))
    assert (code, out) == (70, "")
    assert err.splitlines() == [
        "cfcookie: internal error: RuntimeError: boom (this is a bug in cfcookie; please report "
        "it with the command you ran)"
    ]


# --- installed entry points ----------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in CF_ENV}


@pytest.mark.parametrize("entry", ["console script", "python -m"])
def test_installed_entry_points(
    sep_vectors: dict[str, Any], rsa_key_path: Path, entry: str
) -> None:
    prefix = (
        [require_executable("cfcookie")]
        if entry == "console script"
        else [sys.executable, "-m", "cfcookie_middleware.cli"]
    )
    case = vector(sep_vectors, "canned-policy-basic")
    argv = [*prefix, "sign-cookies", *key_args(rsa_key_path), "--resource", case["resource"]]
    ok = subprocess.run(
        [*argv, "--expires", str(EXPIRES)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert json.loads(ok.stdout)["CloudFront-Signature"] == case["sig_sha1"]
    failed = subprocess.run(
        [*argv, "--expires", "2026-01-01T00:00:00"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr.splitlines() == [
        "cfcookie: error: --expires: '2026-01-01T00:00:00' has no UTC offset and would be read "
        "in this machine's local time; add Z or +00:00 (such as 2026-01-01T12:00:00Z)"
    ]


# --- key text where a path belongs ------------------------------------------------------------
SIGNING = ["--key-pair-id", KEY_ID, "--expires", "1h"]
KEY_TEXT_COMMANDS = {
    "sign-cookies": [
        "sign-cookies",
        *SIGNING,
        "--resource",
        "https://m.example.com/a",
        "--private-key",
        "{key}",
    ],
    "sign-url": [
        "sign-url",
        *SIGNING,
        "--url",
        "https://m.example.com/a",
        "--private-key",
        "{key}",
    ],
    "doctor": [
        "doctor",
        "--key-pair-id",
        KEY_ID,
        "--resource",
        "https://m.example.com/*",
        "--app-url",
        "https://www.example.com/",
        "--private-key",
        "{key}",
    ],
    "doctor --ca-file": [
        "doctor",
        "--resource",
        "https://m.example.com/*",
        "--app-url",
        "https://www.example.com/",
        "--probe",
        "https://m.example.com/a",
        "--ca-file",
        "{cert}",
    ],
    "verify": [
        "verify",
        "--public-key",
        f"{KEY_ID}={{public}}",
        "--url",
        "https://m.example.com/a",
    ],
    "verify no id": ["verify", "--public-key", "{public}", "--url", "https://m.example.com/a"],
    "edge": ["edge", "--root", ".", "--public-key", f"{KEY_ID}={{public}}"],
    "edge --tls-key": [
        "edge",
        "--root",
        ".",
        "--public-key",
        f"{KEY_ID}={PUBLIC_KEY}",
        "--tls-cert",
        "{cert}",
        "--tls-key",
        "{key}",
    ],
    "edge --tls-cert": [
        "edge",
        "--root",
        ".",
        "--public-key",
        f"{KEY_ID}={PUBLIC_KEY}",
        "--tls-cert",
        "{cert}",
        "--tls-key",
        "{cert}",
    ],
}


def pem_bodies(*pems: str) -> list[str]:
    """Pieces of each PEM's base64 body: none of them may appear in any output."""
    bodies = ["".join(pem.strip().splitlines()[1:-1]) for pem in pems]
    return [body[i : i + 24] for body in bodies for i in range(0, len(body) - 24, 24)]


@pytest.mark.parametrize("form", ["pem", "escaped", "der"])
@pytest.mark.parametrize("command", sorted(KEY_TEXT_COMMANDS))
def test_key_text_given_as_a_path_is_named_and_never_echoed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, form: str
) -> None:
    """``--private-key "$CLOUDFRONT_PRIVATE_KEY"`` and the like: every option that takes a key
    or certificate file refuses the text itself, says what it looks like and never repeats it
    (stderr ends up in CI logs). ``escaped`` is PEM with "\\n" escapes, as in an env var; ``der``
    is the base64 body alone, its lines joined."""
    certificate = self_signed_certificate(tmp_path, "localhost")
    texts = {
        "key": (VECTORS / "test-rsa-key.pem").read_text(),
        "public": PUBLIC_KEY.read_text(),
        "cert": certificate.certfile.read_text(),
    }
    if form == "escaped":
        texts = {name: text.replace("\n", "\\n") for name, text in texts.items()}
    elif form == "der":
        texts = {name: "".join(text.strip().splitlines()[1:-1]) for name, text in texts.items()}
    argv = [part.format(**texts) for part in KEY_TEXT_COMMANDS[command]]
    code, out, err = run(capsys, *argv)
    assert_one_error_line(code, out, err, "this looks like PEM text, not a file path; pass a file")
    assert "BEGIN" not in err
    files = (VECTORS / "test-rsa-key.pem", PUBLIC_KEY, certificate.certfile)
    for piece in pem_bodies(*(file.read_text() for file in files)):
        assert piece not in err
