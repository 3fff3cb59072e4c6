"""Every Python block of the documentation (``docs/`` and README.md) runs, as a reader would run
it: each page in a fresh interpreter with warnings as errors, in a directory holding a throwaway
key pair (``private_key.pem``, ``public_key.pem``) and with ``CLOUDFRONT_KEY_PAIR_ID`` and
``CLOUDFRONT_PRIVATE_KEY_FILE`` naming it, as ``Signer.from_env()`` reads them in production.
The rules for blocks (files, test files, ``# not run: REASON``) are in ``doc_blocks.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from doc_blocks import NOT_RUN, python_blocks

from cfcookie_middleware import DOCS_URL
from cfcookie_middleware.demo import Demo, instructions
from cfcookie_middleware.demo.site import library_page, login_page, videos_page

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
RUNNER = Path(__file__).with_name("doc_blocks.py")
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
"""The key pair ID the documentation's examples use."""
KMS_PAGES = {"docs/keys.md"}
"""Pages whose blocks use a KMS key, ``alias/cloudfront``: run against moto's KMS."""


def relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.fixture
def reader_dir(tmp_path: Path, rsa2048: rsa.RSAPrivateKey) -> Path:
    """A reader's working directory: the key pair the examples name, and nothing else."""
    (tmp_path / "private_key.pem").write_bytes(
        rsa2048.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "public_key.pem").write_bytes(
        rsa2048.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return tmp_path


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())], ids=relative)
def test_the_pages_python_blocks_run(page: Path, reader_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFRONT_", "AWS_"))}
    env.update(
        CLOUDFRONT_KEY_PAIR_ID=KEY_PAIR_ID,
        CLOUDFRONT_PRIVATE_KEY_FILE=str(reader_dir / "private_key.pem"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    command = [sys.executable, "-W", "error", str(RUNNER), str(page)]
    if relative(page) in KMS_PAGES:
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        env.update(AWS_DEFAULT_REGION="eu-west-1")
        command.append("--moto-kms=alias/cloudfront")
    done = subprocess.run(
        command, cwd=reader_dir, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{relative(page)}:\n{done.stdout}\n{done.stderr}"


def test_a_block_not_run_says_why_and_still_compiles() -> None:
    for page in PAGES:
        for block in python_blocks(page.read_text()):
            if block.not_run_reason is not None:
                assert block.not_run_reason, (
                    f"{relative(page)}:{block.line}: {NOT_RUN} needs a reason"
                )
                compile(block.code, f"{relative(page)}:{block.line}", "exec")


def test_the_collector_finds_indented_and_tilde_blocks() -> None:
    text = (
        "Intro\n\n```python\na = 1\n```\n\n"
        '=== "Tab"\n\n    ```py title="x"\n    b = 2\n    ```\n\n'
        "~~~python\n# not run: needs a server\nc = 3\n~~~\n\n```sh\nls\n```\n"
    )
    blocks = python_blocks(text)
    assert [(b.line, b.code) for b in blocks] == [
        (4, "a = 1\n"),
        (10, "b = 2\n"),
        (14, "# not run: needs a server\nc = 3\n"),
    ]
    assert blocks[2].not_run_reason == "needs a server"


# ---- links from the demo into the site ---------------------------------------------------------
def anchors(page: str) -> set[str]:
    """The ids a page's headings get: explicit ``{#id}`` ones, as the demo links to those."""
    return set(re.findall(r"^#+ .*\{#([\w-]+)\}$", (ROOT / "docs" / page).read_text(), re.M))


def docs_links(html: str) -> list[str]:
    return [link for link in re.findall(r'href="([^"]+)"', html) if link.startswith(DOCS_URL)]


def test_the_demo_links_into_the_site_it_is_built_as() -> None:
    site_url = re.search(r"^site_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert site_url is not None
    assert site_url.group(1) == DOCS_URL


@pytest.mark.parametrize(
    ("page", "anchor"),
    [
        (login_page(), "demo-login"),
        (login_page(failed=True), "demo-login"),
        (videos_page("alice", "http://localhost:8001"), "demo-videos"),
        (library_page("alice", "http://localhost:8001"), "demo-library"),
    ],
)
def test_each_demo_page_links_to_where_it_is_explained(page: str, anchor: str) -> None:
    assert docs_links(page) == [f"{DOCS_URL}getting-started/#{anchor}"]
    assert anchor in anchors("getting-started.md")


def test_the_demo_instructions_link_to_the_walkthrough() -> None:
    text = instructions(Demo("http://localhost:8000", "http://localhost:8001", None, print))  # type: ignore[arg-type]
    (link,) = re.findall(re.escape(DOCS_URL) + r"\S*", text)
    assert link == f"{DOCS_URL}getting-started/#the-demo"
    assert "the-demo" in anchors("getting-started.md")


def test_readmes_links_into_the_site_lead_to_pages() -> None:
    links = re.findall(r"\]\(([^)#:]+)\)", (ROOT / "README.md").read_text())
    assert "docs/getting-started.md" in links
    for link in links:
        assert (ROOT / link).is_file(), link
