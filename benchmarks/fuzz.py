"""The long fuzz run: tests/test_fuzz.py with many examples, then coverage-guided atheris targets.

Run from the repository root:
    python benchmarks/fuzz.py              # 20000 examples per property, atheris 120 s: ~16 min
    python benchmarks/fuzz.py --examples 10000 --atheris-seconds 60      # ~8 min
    python benchmarks/fuzz.py --examples 3000 --paths --no-atheris      # ~3 min

Part 1 runs pytest on tests/test_fuzz.py with CFCOOKIE_FUZZ_EXAMPLES set (``--paths`` adds the
generated-path test of tests/test_path_bypass.py, eleven adapters' worth, so about ten times
slower). Part 2 runs each atheris target in its own process for ``--atheris-seconds``:
``check_cookies`` (a URL, a raw Cookie header and a client IP, seeded with valid signed sets) and
``parse_cookie_pairs``, both checked with the properties test_fuzz.py states. atheris is an
optional tool, not a dependency (``pip install atheris``; wheels exist for Linux and macOS);
without it part 2 is skipped with a note. A crash input lands in artifacts/fuzz/ (ignored by git);
replay it with ``python benchmarks/fuzz.py --atheris-target NAME artifacts/fuzz/crash-...``.
Exit status: 0 when every part passed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "fuzz"


def run_hypothesis(examples: int, paths: bool) -> int:
    tests = ["tests/test_fuzz.py"]
    if paths:
        tests += ["tests/test_path_bypass.py", "-k", "test_fuzz or generated_paths"]
    command = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
    print(f"== hypothesis: CFCOOKIE_FUZZ_EXAMPLES={examples} {' '.join(command[1:])}", flush=True)
    environment = {**os.environ, "CFCOOKIE_FUZZ_EXAMPLES": str(examples)}
    return subprocess.run(command, cwd=ROOT, env=environment, check=False).returncode


# ---- atheris targets (each runs in a child process: atheris.Fuzz() never returns) ------------
def check_cookies_target() -> tuple[Callable[[bytes], None], list[bytes]]:
    from test_fuzz import VALID_SETS, VERIFIER, VIDEO, assert_decision

    from cfcookie_middleware.cookies import parse_cookie_pairs

    def one(data: bytes) -> None:
        url, _, rest = data.decode("latin-1").partition("\n")
        header, _, client_ip = rest.partition("\n")
        decision = VERIFIER.check_cookies(url, header, client_ip=client_ip or None, now=None)
        assert_decision(decision)
        assert_decision(VERIFIER.check_url(url, client_ip=client_ip or None))
        parse_cookie_pairs(header)

    seeds = [
        f"{VIDEO}\n{'; '.join(f'{n}={v}' for n, v in cookies.items())}\n203.0.113.9".encode()
        for cookies in VALID_SETS
    ]
    return one, seeds


def parse_cookie_pairs_target() -> tuple[Callable[[bytes], None], list[bytes]]:
    from middleware_helpers import check_cookie_parsing  # tests/ is on sys.path here

    def one(data: bytes) -> None:
        for header in (data.decode("latin-1"), data.decode("utf-8", "surrogateescape")):
            check_cookie_parsing(header)

    return one, [b"a=b; CloudFront-Policy=eyJ9; c", b'=; ;;x="y"; CloudFront-Signature=~_-']


TARGETS = {"check_cookies": check_cookies_target, "parse_cookie_pairs": parse_cookie_pairs_target}


def fuzz_one(name: str, libfuzzer_args: list[str]) -> None:
    """Inside the child: instrument the package, build the target, hand over to libFuzzer."""
    import atheris  # type: ignore[import-untyped]  # optional, untyped

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["cfcookie_middleware"]):
        import cfcookie_middleware.cookies
        import cfcookie_middleware.signing
        import cfcookie_middleware.verify  # noqa: F401
    target, seeds = TARGETS[name]()
    corpus = [arg for arg in libfuzzer_args if not arg.startswith("-")]
    for number, seed in enumerate(seeds if corpus and Path(corpus[0]).is_dir() else ()):
        (Path(corpus[0]) / f"seed-{number}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *libfuzzer_args], target)
    atheris.Fuzz()


def run_atheris(seconds: int) -> int:
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("== atheris: not installed (pip install atheris); skipped", flush=True)
        return 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in TARGETS:
        with tempfile.TemporaryDirectory(prefix=f"cfcookie-{name}-") as corpus:
            command = [
                sys.executable,
                __file__,
                "--atheris-target",
                name,
                corpus,
                f"-max_total_time={seconds}",
                f"-artifact_prefix={ARTIFACTS}/{name}-",
                "-print_final_stats=1",
            ]
            print(f"== atheris {name}: {seconds} s", flush=True)
            started = time.monotonic()
            result = subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True)
            tail = [line for line in result.stderr.splitlines() if line.startswith(("#", "stat:"))]
            print("\n".join(tail[-6:]))
            if result.returncode != 0:
                print(result.stderr[-4000:])
                failed += 1
            print(f"   exit {result.returncode} after {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--paths", action="store_true", help="also the generated-path test")
    parser.add_argument("--atheris-seconds", type=int, default=120)
    parser.add_argument("--no-atheris", action="store_true")
    parser.add_argument("--no-hypothesis", action="store_true")
    parser.add_argument("--atheris-target", choices=sorted(TARGETS), help=argparse.SUPPRESS)
    args, libfuzzer_args = parser.parse_known_args()
    if args.atheris_target:
        fuzz_one(args.atheris_target, libfuzzer_args)
        return 0
    status = 0 if args.no_hypothesis else run_hypothesis(args.examples, args.paths)
    if not args.no_atheris:
        status = run_atheris(args.atheris_seconds) or status
    print("== fuzz: " + ("passed" if status == 0 else "FAILED"), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
