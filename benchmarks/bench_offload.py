"""Should an async adapter sign with a local key on the event loop, or in a worker thread?

Three figures for an RSA-2048 key, each the median of many signatures of distinct policies:
- the cost of one signature on the loop (what every other task waits while it runs),
- the latency of the same signature sent to a worker thread (``anyio.to_thread.run_sync``),
- how late a 1 ms ticker on the loop runs while signatures go on in threads back to back: it
  tells whether `cryptography` releases the GIL while signing (if not, a thread frees nothing).
Run: python benchmarks/bench_offload.py [--signatures 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
from cryptography.hazmat.primitives.asymmetric import rsa

from cfcookie_middleware import Signer
from cfcookie_middleware.signing import Policy

EXPIRES = 1_900_000_000


def policies(n: int) -> list[Policy]:
    return [Policy(f"https://media.example.com/users/{i}/*", EXPIRES) for i in range(n)]


async def measure(signer: Signer, n: int) -> dict[str, float]:
    on_loop, in_thread = [], []
    for policy in policies(n):
        start = time.perf_counter()
        signer.sign_policy(policy)
        on_loop.append(time.perf_counter() - start)
    for policy in policies(n):
        start = time.perf_counter()
        await anyio.to_thread.run_sync(signer.sign_policy, policy)
        in_thread.append(time.perf_counter() - start)

    async def on_the_loop(policy: Policy) -> None:
        signer.sign_policy(policy)
        await anyio.sleep(0)  # let the ticker run between signatures

    async def via_a_thread(policy: Policy) -> None:
        await anyio.to_thread.run_sync(signer.sign_policy, policy)

    async def idle(policy: Policy) -> None:
        await anyio.sleep(0.0003)

    figures = {
        "signature on the loop (ms, median)": statistics.median(on_loop) * 1e3,
        "signature via a worker thread (ms, median)": statistics.median(in_thread) * 1e3,
    }
    for name, work in (("idle", idle), ("signing on the loop", on_the_loop)):
        figures |= await ticker_lags(name, work, n // 4)
    figures |= await ticker_lags("signing in threads", via_a_thread, n // 4)
    return figures


async def ticker_lags(
    name: str, work: Callable[[Policy], Awaitable[None]], n: int
) -> dict[str, float]:
    """How late a 1 ms ticker on the loop wakes while ``work`` runs for ``n`` policies."""
    lags: list[float] = []
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    async def run() -> None:
        for policy in policies(n):
            await work(policy)
        done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        group.start_soon(run)
    return {
        f"ticker lag, {name} (ms, median)": statistics.median(lags) * 1e3,
        f"ticker lag, {name} (ms, p99)": statistics.quantiles(lags, n=100)[98] * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=2000)
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = Signer("K2JCJMDEHXQW5F", key)
    for name, value in anyio.run(measure, signer, args.signatures).items():
        print(f"{name:<48} {value:8.3f}")


if __name__ == "__main__":
    main()
