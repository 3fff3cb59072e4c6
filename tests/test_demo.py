"""`cfcookie demo`: the self-test, and the interactive demo started and stopped by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_ports, serving
from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import Signer
from cfcookie_middleware.cli import main
from cfcookie_middleware.demo import DEMO_KEY_PAIR_ID, Demo, self_test
from cfcookie_middleware.edge import Edge, serve


def test_self_test_passes_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--self-test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok    unsigned request to the edge",
        "ok    app page hands out cookies",
        "ok    edge serves a file inside the policy",
        "ok    edge refuses a file outside it",
        "ok    after logout the edge refuses again",
    ]
    assert "403 no CloudFront-Key-Pair-Id cookie" in lines[0]
    assert "does not cover" in lines[3]


def test_interactive_demo_serves_until_stopped() -> None:
    app_port, edge_port = free_ports(2)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cfcookie_middleware.cli",
            "demo",
            "--app-port",
            str(app_port),
            "--edge-port",
            str(edge_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = ""
        deadline = time.monotonic() + 30
        while "Ctrl-C stops" not in banner and time.monotonic() < deadline:
            banner += process.stdout.readline()
        assert f"http://localhost:{app_port}/login" in banner
        assert f"http://localhost:{edge_port}/videos/intro.mp4" in banner
        with urllib.request.urlopen(f"http://localhost:{app_port}/login", timeout=10) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://localhost:{edge_port}/videos/intro.mp4", timeout=10)
        assert refused.value.code == 403
        refused.value.close()
        # SIGTERM, not SIGINT: a background job of a non-interactive shell (as CI may run the
        # suite) starts with SIGINT ignored, and Python keeps it so.
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "403 MissingKey" in err  # the edge's decision, logged with its reason


def test_self_test_fails_where_a_browser_would(tmp_path: Path, rsa2048: rsa.RSAPrivateKey) -> None:
    """The same flow, but the app's cookies are Secure over plain http: a browser never sends
    them back, so the self-test must not report the flow working."""
    from examples import wsgi_app

    signer = Signer(DEMO_KEY_PAIR_ID, rsa2048)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "intro.mp4").write_bytes(b"video")
    edge = serve(Edge(tmp_path, {DEMO_KEY_PAIR_ID: signer.public_key}))
    with serving(edge) as edge_port:
        media = f"http://localhost:{edge_port}"
        app = serve(wsgi_app.create_app(signer, media_url=media, cookie_domain=None, secure=True))
        with serving(app) as app_port:
            lines: list[str] = []
            demo = Demo(f"http://localhost:{app_port}", media, signer, stop=lambda: None)
            assert self_test(demo, say=lines.append) is False
    # The login's session cookie is Secure too, so the app never sees the visitor logged in.
    failed = [line.split(":")[0] for line in lines if line.startswith("FAIL")]
    assert failed == [
        "FAIL  app page hands out cookies",
        "FAIL  edge serves a file inside the policy",
    ]
