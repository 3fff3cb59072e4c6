"""`cfcookie demo`: the self-test, and the interactive demo started and stopped by hand."""

from __future__ import annotations

import os
import re
import shutil
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
from cfcookie_middleware.demo import DEMO_KEY_PAIR_ID, Demo, media_files, self_test
from cfcookie_middleware.demo.site import library_page, videos_page
from cfcookie_middleware.edge import Edge, serve


def test_self_test_passes_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--self-test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok    unsigned request to the edge",
        "ok    app page hands out cookies",
        "ok    edge serves the HLS playlist to the page's origin",
        "ok    edge serves every segment (MPEG-TS)",
        "ok    edge serves the MP4",
        "ok    edge refuses another user's stream",
        "ok    the refresh route answers a playing page",
        "ok    after logout the edge refuses again",
    ]
    assert "403 no CloudFront-Key-Pair-Id cookie" in lines[0]
    assert "6 segments; CORS for http://localhost:" in lines[2]
    assert "6 served" in lines[3]
    assert "users/alice/* does not cover" in lines[5]


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
        assert f"http://localhost:{edge_port}/videos/intro/index.m3u8" in banner
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
    copy_media(tmp_path)
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
        "FAIL  edge serves the HLS playlist to the page's origin",
        "FAIL  edge serves every segment (MPEG-TS)",
        "FAIL  edge serves the MP4",
        "FAIL  the refresh route answers a playing page",
    ]


def copy_media(root: Path) -> None:
    for name, source in media_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / name)


def test_self_test_checks_the_media_itself(tmp_path: Path, rsa2048: rsa.RSAPrivateKey) -> None:
    """Cookies that work are not enough: a segment that is no MPEG-TS fails the self-test."""
    from examples import wsgi_app

    signer = Signer(DEMO_KEY_PAIR_ID, rsa2048)
    copy_media(tmp_path)
    (tmp_path / "videos" / "intro" / "segment3.ts").write_bytes(b"placeholder bytes")
    page = f"http://localhost:{free_ports(1)[0]}"
    edge = serve(Edge(tmp_path, {DEMO_KEY_PAIR_ID: signer.public_key}, cors_origins=[page]))
    with serving(edge) as edge_port:
        media = f"http://localhost:{edge_port}"
        app_port = int(page.rsplit(":", 1)[1])
        app = serve(
            wsgi_app.create_app(signer, media_url=media, cookie_domain=None, secure=False),
            port=app_port,
        )
        with serving(app):
            lines: list[str] = []
            demo = Demo(page, media, signer, stop=lambda: None)
            assert self_test(demo, say=lines.append) is False
    failed = [line for line in lines if line.startswith("FAIL")]
    assert failed == ["FAIL  edge serves every segment (MPEG-TS): segment3.ts: 200"]


def test_the_shipped_clip_is_what_the_pages_name() -> None:
    """Every media URL the demo's pages name has a shipped file, read by its magic bytes."""
    files = media_files()
    page = videos_page("alice", "M") + library_page("alice", "M") + library_page("bob", "M")
    named = {url.removeprefix("M/") for url in re.findall(r'(?:src|poster|href)="(M/[^"]*)"', page)}
    assert named <= files.keys()
    assert len(named) == 2 * 3 + 2 * 3 + 3  # per clip: the stream, the MP4 and the poster
    playlist = files["videos/intro/index.m3u8"].read_bytes().decode()
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert segments == [f"segment{n}.ts" for n in range(6)]
    assert (
        sum(
            float(line[8:].rstrip(","))
            for line in playlist.splitlines()
            if line.startswith("#EXTINF:")
        )
        == 6
    )
    for segment in segments:
        data = files[f"videos/intro/{segment}"].read_bytes()
        assert data[0] == data[188] == 0x47  # MPEG-TS packets of 188 bytes
    assert files["videos/intro.mp4"].read_bytes()[4:8] == b"ftyp"
    assert files["videos/intro.jpg"].read_bytes()[:3] == b"\xff\xd8\xff"
    total = sum(path.stat().st_size for path in {*files.values()})
    assert total < 100_000  # tens of KB in the wheel
