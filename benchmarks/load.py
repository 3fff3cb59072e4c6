"""Load test on real servers over loopback: hello-world apps without and with the middleware.

uvicorn serves the Starlette and FastAPI apps and gunicorn (its default sync workers, which close
the connection after each response) the Flask app, each with 2 worker processes and each app in
several variants at once (``benchmarks/loadapps.py``; the workers read the key from the
environment): without the middleware, with it, and, for first visits only, without it but sending
the very headers it would add, which tells the cost of sending those bytes from the middleware's
own. A third kind of load, "distinct", sends every request as a user never seen before
(``/users/<user>/library``, each user's own resource, so each response needs a signature of its
own and no cache of the middleware can help): the middleware's app (served apart) against the
same app whose view signs each user's set with bare ``cryptography`` and sends the same headers
itself. ``--visits`` picks the kinds of load (and so the servers started).
The load comes from this process: a small HTTP/1.1 keep-alive client on asyncio streams with 64
connections (opened over 0.1 s, so that both workers get some), aimed at one server at a time for
slices of --seconds / --rounds, the two variants of an app interleaved so the machine's noise hits
both; each (app, visit, variant) gets --seconds in all, and the ratio (with / without, best slice
of each) comes from this one run. A "first" visit sends no cookies, so every response of the
middleware's variant must carry the CloudFront set; a "returning" visit sends the set the server
handed out, so no response may carry one. A "distinct" user's name is drawn from a prefix
random to the run and a counter shared by every connection (``Users``): never repeated within or
across runs, as a seeded random generator's would be.

Every response is checked (status line, header syntax, Content-Length and body, Set-Cookie exactly
when expected), and a sample of the cookie sets handed out is judged by the Verifier: allowed for a
URL inside the rule's resource, refused outside it. The workers' resident memory (VmRSS of the
master's child processes) is read while their server is under load; its growth from the first to
the last quarter of the server's requests must stay under 10%, over at least --requests-target
requests: after the timed rounds each middleware server gets more, untimed, load until it has
served that many. A default run takes about 8 minutes.

The client shares the machine's cores with the servers, so absolute figures are lower than from a
separate load machine, and requests/s move with whatever else the machine runs; the workers' CPU
time per request (user + system, from /proc/<pid>/stat) is printed beside them and moves less.
``wrk`` (Debian: ``apt-get install wrk``) pushes harder but checks none of the above, hence this
client. Under ``uvicorn --workers`` every keep-alive response would wait ~40 ms on Nagle's
algorithm (a uvicorn bug, worked around in ``benchmarks/loadapps.py``).
Run: python benchmarks/load.py [--seconds 20] [--rounds 4] [--connections 64]
[--requests-target 100000] [--apps starlette,fastapi,flask] [--key rsa|ecdsa]
[--visits returning,first,distinct]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cfcookie_middleware import Signer, Verifier
from cfcookie_middleware.signing import MAX_EPOCH, Policy

ROOT = Path(__file__).resolve().parent.parent
MEDIA = "https://media.example.com"
HOST = "www.example.com"
"""What the client sends as ``Host``: inside the apps' cookie domain, ``.example.com``."""
PATH = "/videos/clip"
"""What the client requests: it matches the apps' rule, ``/videos/*``."""
USER_PATH = "/users/{user}/library"
"""A user's own page, whose rule grants ``/users/{user}/*``: one signature per user."""
BODY = b"hello"
KEY_ID = "K2JCJMDEHXQW5F"
LOOPBACK = "127.0.0.1"
SERVERS = {"starlette": "uvicorn", "fastapi": "uvicorn", "flask": "gunicorn"}
VARIANTS = ("plain", "cf", "headers", "users", "signs")
VISITS = ("returning", "first", "distinct")


def variants(visit: str) -> tuple[str, ...]:
    """The variants loaded for a visit, the yardstick first: ``headers`` (the app itself sends
    what the middleware adds to a first visit) only for first visits, where it is the same
    response; for distinct users ``signs`` (the app signs each user's set itself) and ``users``
    (the middleware's app, served apart so its caches filling up are not read as a leak)."""
    return {"returning": ("plain", "cf"), "first": ("plain", "cf", "headers")}.get(
        visit, ("signs", "users")
    )


class Users:
    """Paths of users never seen before, one per call: a prefix random to this run and a counter
    shared by every connection of it (the client is one event loop), so no user repeats within
    a run or across runs, and the middleware's caches of signed and held sets cannot answer."""

    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self._count = itertools.count()

    def path(self) -> str:
        return USER_PATH.format(user=f"{self.prefix}-{next(self._count)}")


INSIDE = f"{MEDIA}/videos/clip.mp4"
OUTSIDE = f"{MEDIA}/users/alice/clip.mp4"


def urls(path: str) -> tuple[str, str]:
    """A URL the set handed out for ``path`` must open, and one it must not: ``INSIDE`` and
    ``OUTSIDE`` for ``PATH``; for a user's page a file of theirs and one of another user's."""
    if path == PATH:
        return INSIDE, OUTSIDE
    user = path.split("/")[2]
    return f"{MEDIA}/users/{user}/clip.mp4", f"{MEDIA}/users/{user}0/clip.mp4"


MAX_SAMPLES = 100
"""Cookie sets kept per load run for the Verifier."""
MAX_PROBLEMS = 10
"""Distinct problems kept per tally (each with its count)."""
RAMP = 0.1
"""Seconds over which a load run opens its connections."""
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3}) [^\r\n]*")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 header field name


class Malformed(Exception):
    """A response that is not valid HTTP/1.1 or lacks what it must carry."""


@dataclass
class Tally:
    """What the client saw: responses, failures (the first kinds counted), kept cookie sets."""

    requests: int = 0
    errors: int = 0
    malformed: int = 0
    seconds: float = 0.0
    worker_cpu: float = 0.0
    problems: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[str, list[str]]] = field(default_factory=list)
    """Cookie sets kept: the path requested and its ``Set-Cookie`` values."""

    def fail(self, kind: str, what: str) -> None:
        if kind == "error":
            self.errors += 1
        else:
            self.malformed += 1
        self._count(f"{kind}: {what}", 1)

    def _count(self, problem: str, times: int) -> None:
        if problem in self.problems or len(self.problems) < MAX_PROBLEMS:
            self.problems[problem] = self.problems.get(problem, 0) + times

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.malformed += other.malformed
        self.seconds += other.seconds
        self.worker_cpu += other.worker_cpu
        for problem, times in other.problems.items():
            self._count(problem, times)
        self.samples.extend(other.samples[: MAX_SAMPLES - len(self.samples)])

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def request_bytes(cookie: str = "", path: str = PATH) -> bytes:
    """The one request the load repeats: GET the matching route as www.example.com, from the
    TLS-terminating proxy production puts in front (uvicorn and gunicorn trust its
    X-Forwarded-Proto from loopback, so the app sees https and its Secure cookies make sense)."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {HOST}",
        "X-Forwarded-Proto: https",
        "User-Agent: cfcookie-load",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Status and headers (names lower-cased) of one response whose body must be ``BODY``."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = _STATUS.fullmatch(lines[0])
    if status is None:
        raise Malformed(f"status line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise Malformed(f"header line {line[:80]!r}")
        headers.append((name.lower(), value.strip()))
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) != 1 or not lengths[0].isdigit():
        raise Malformed(f"Content-Length {lengths!r}: expected exactly one number")
    body = await reader.readexactly(int(lengths[0]))
    if body != BODY:
        raise Malformed(f"body {body[:40]!r}, expected {BODY!r}")
    return int(status.group(1)), headers


def set_cookies(headers: list[tuple[bytes, bytes]]) -> list[str]:
    return [value.decode("latin-1") for name, value in headers if name == b"set-cookie"]


def cookie_header(values: list[str]) -> str:
    """The ``Cookie`` header a browser sends back for these ``Set-Cookie`` values."""
    return "; ".join(value.split(";", 1)[0] for value in values)


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):  # the peer reset first: closed either way
            await writer.wait_closed()


async def _connection(
    port: int,
    requests: Callable[[], tuple[str, bytes]],
    expect: frozenset[str],
    deadline: float,
    tally: Tally,
    every: int,
    delay: float,
) -> None:
    """One client connection, opened after ``delay`` and reopened when the server closes it,
    until ``deadline``; ``requests`` gives each request's path and bytes."""
    writer: asyncio.StreamWriter | None = None
    sampled = False
    await asyncio.sleep(delay)
    try:
        while time.monotonic() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(LOOPBACK, port)
                path, request = requests()
                writer.write(request)
                status, headers = await read_response(reader)
            except Malformed as exc:
                tally.fail("malformed", str(exc))
                await _close(writer)
                writer = None
                continue
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                tally.fail("error", repr(exc)[:200])
                await _close(writer)
                writer = None
                await asyncio.sleep(0.05)  # a server that is down: do not spin
                continue
            tally.requests += 1
            cookies = set_cookies(headers)
            names = sorted(value.split("=", 1)[0] for value in cookies)
            if status != 200:
                tally.fail("error", f"status {status}")
            elif names != sorted(expect):
                tally.fail("malformed", f"Set-Cookie for {names}, expected {sorted(expect)}")
            elif cookies and (not sampled or tally.requests % every == 0):
                sampled = True
                if len(tally.samples) < MAX_SAMPLES:
                    tally.samples.append((path, cookies))
            if (b"connection", b"close") in headers:
                await _close(writer)
                writer = None
    finally:
        await _close(writer)


async def load(
    port: int,
    *,
    seconds: float,
    connections: int,
    cookie: str = "",
    expect: frozenset[str] = frozenset(),
    every: int = 1000,
    watch: Callable[[int], None] | None = None,
    users: Users | None = None,
) -> Tally:
    """Keep ``connections`` connections busy for ``seconds``; ``expect`` is the cookie names
    every response must set (none when empty). Every request is for ``PATH``, or with ``users``
    for a user never seen before. Keeps each connection's first cookie set and every
    ``every``-th; calls ``watch(requests so far)`` five times a second."""
    tally = Tally()
    same = (PATH, request_bytes(cookie))

    def requests() -> tuple[str, bytes]:
        if users is None:
            return same
        path = users.path()
        return path, request_bytes(cookie, path)

    start = time.monotonic()
    deadline = start + seconds
    # Connections open over RAMP seconds, as a real crowd arrives: opened all at once, they
    # would all be accepted by whichever worker woke first, leaving the other idle.
    clients = asyncio.gather(
        *(
            _connection(port, requests, expect, deadline, tally, every, RAMP * i / connections)
            for i in range(connections)
        )
    )
    watcher = None
    if watch is not None:

        async def watching() -> None:
            while True:
                watch(tally.requests)
                await asyncio.sleep(0.2)

        watcher = asyncio.ensure_future(watching())
    try:
        await asyncio.wait_for(clients, seconds + 30)
    except asyncio.TimeoutError:
        tally.fail("error", "no response within 30 s after the deadline")
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    tally.seconds = time.monotonic() - start
    return tally


async def fetch(port: int, cookie: str = "", timeout: float = 10) -> tuple[int, list[str]]:
    """One request on a fresh connection: its status and ``Set-Cookie`` values."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(request_bytes(cookie))
        status, headers = await asyncio.wait_for(read_response(reader), timeout)
        return status, set_cookies(headers)
    finally:
        await _close(writer)


# ---- servers ------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: the probes stay bound until all are picked, so the kernel
    cannot hand one port to two servers that have not bound it yet."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((LOOPBACK, 0))
        return [probe.getsockname()[1] for probe in probes]


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from ``/proc``, Linux only)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int | None:
    """The resident memory of ``pid`` (VmRSS), or ``None`` once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def key_environment(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """This process's environment with the workers' key set and other key settings removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFRONT_")}
    env["CLOUDFRONT_KEY_PAIR_ID"] = KEY_ID
    env["CLOUDFRONT_PRIVATE_KEY"] = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return env


@dataclass
class Server:
    """One server (a master and its workers) serving one app of ``benchmarks.loadapps``."""

    app: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    workers: list[int] = field(default_factory=list)
    exit_code: int | None = None
    leftover: list[int] = field(default_factory=list)

    def wait_ready(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` workers run and a request gets a 200; ``RuntimeError`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            # uvicorn's master also starts multiprocessing's resource tracker: not a worker
            self.workers = [
                pid
                for pid in children(self.process.pid)
                if b"resource_tracker" not in _cmdline(pid)
            ]
            if len(self.workers) == count:
                try:
                    if asyncio.run(fetch(self.port))[0] == 200:
                        return
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, Malformed):
                    pass  # not ready yet
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.app} did not start:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, as a process manager would; SIGKILL to the group if it does not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group this script started
            self.exit_code = self.process.wait(timeout)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.leftover = [pid for pid in self.workers if rss_kib(pid) is not None]
            if not self.leftover:
                break
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def log_problems(self) -> list[str]:
        """Lines of the server's output that report a failure or a middleware warning."""
        marks = ("Traceback", "Error", "ERROR", "CRITICAL", "WARNING", "cfcookie")
        return [line for line in self.output().splitlines() if any(m in line for m in marks)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def command(app: str, port: int, workers: int) -> list[str]:
    """The server command line for ``app``, a name in ``benchmarks.loadapps``."""
    target = f"benchmarks.loadapps:{app}"
    if SERVERS[app.split("_")[0]] == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", target, "--host", LOOPBACK, "--port", str(port)),
            *("--workers", str(workers), "--log-level", "warning", "--no-access-log"),
        ]
    return [
        *(sys.executable, "-m", "gunicorn", target, "--bind", f"{LOOPBACK}:{port}"),
        *("--workers", str(workers), "--log-level", "warning", *_no_control_socket()),
    ]


def _no_control_socket() -> list[str]:
    """gunicorn 25.1 and later open a control socket at one path per user, so servers started
    together race for it and all but one log an error; these servers need none."""
    major, minor = (int(part) for part in version("gunicorn").split(".")[:2])
    return ["--no-control-socket"] if (major, minor) >= (25, 1) else []


@contextmanager
def serving(
    apps: list[str], *, workers: int, env: Mapping[str, str], log_dir: Path
) -> Iterator[dict[str, Server]]:
    """Start every app, wait until all are ready, and stop them all on the way out."""
    servers: dict[str, Server] = {}
    with ExitStack() as stack:
        for app, port in zip(apps, free_ports(len(apps)), strict=True):
            log = log_dir / f"{app}.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    command(app, port, workers),
                    cwd=ROOT,
                    env=dict(env),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own group: SIGKILL reaches the workers too
                )
            servers[app] = Server(app, port, process, log)
            stack.callback(servers[app].stop)
        for server in servers.values():
            server.wait_ready(workers)
        yield servers


# ---- the benchmark ------------------------------------------------------------------------


@dataclass
class Memory:
    """RSS samples of one server's workers, each with the server's request count at the time."""

    requests: int = 0
    samples: list[tuple[int, dict[int, int]]] = field(default_factory=list)

    def watcher(self, workers: list[int]) -> Callable[[int], None]:
        base = self.requests

        def watch(done: int) -> None:
            sizes = {pid: rss_kib(pid) for pid in workers}
            self.samples.append((base + done, {p: s for p, s in sizes.items() if s is not None}))

        return watch

    def quarters(self) -> dict[int, tuple[float, float]]:
        """Per worker: mean RSS (KiB) over the first and the last quarter of the requests."""
        total = self.requests
        first = [sizes for done, sizes in self.samples if done <= total / 4]
        last = [sizes for done, sizes in self.samples if done >= total * 3 / 4]
        result = {}
        for pid in {pid for _, sizes in self.samples for pid in sizes}:
            early = [sizes[pid] for sizes in first if pid in sizes]
            late = [sizes[pid] for sizes in last if pid in sizes]
            if early and late:
                result[pid] = (sum(early) / len(early), sum(late) / len(late))
        return result


def verify_samples(
    verifier: Verifier, samples: list[tuple[str, list[str]]]
) -> tuple[int, int, list[str]]:
    """How many cookie sets CloudFront would accept inside the resource, how many it would
    refuse outside it, and the reasons of the first few that did not behave."""
    inside = outside = 0
    problems = []
    for path, values in samples:
        cookies = cookie_header(values)
        opens, stays_shut = urls(path)
        allowed = verifier.check_cookies(opens, cookies)
        refused = verifier.check_cookies(stays_shut, cookies)
        inside += allowed.allowed
        outside += refused.code == "AccessDenied"
        if not allowed.allowed or refused.code != "AccessDenied":
            problems.append(f"{allowed.reason} / {refused.reason}")
    return inside, outside, problems[:MAX_PROBLEMS]


def expected_cookies(signer: Signer) -> frozenset[str]:
    """The cookie names of a set for ``/videos/*`` signed by ``signer`` (a custom policy)."""
    return frozenset(signer.sign_policy(Policy(f"{MEDIA}/videos/*", MAX_EPOCH)))


@dataclass
class Bench:
    """The servers under test and everything measured on them; ``slice`` runs one load slice."""

    args: argparse.Namespace
    servers: dict[str, Server]
    cookies: dict[str, str]
    expect: frozenset[str]
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    timed: dict[tuple[str, str], Tally] = field(default_factory=dict)
    best: dict[tuple[str, str], float] = field(default_factory=dict)
    memory: dict[str, Memory] = field(default_factory=dict)
    client_cpu: float = 0.0
    users: Users = field(default_factory=Users)

    def slice(self, name: str, visit: str, seconds: float, phase: str) -> None:
        """Load server ``name`` for ``seconds``; ``phase`` is warm-up, timed or soak."""
        server = self.servers[name]
        returning = visit == "returning"
        distinct = visit == "distinct"
        memory = self.memory.setdefault(name, Memory())
        cpu = cpu_seconds(server.workers)
        tally = asyncio.run(
            load(
                server.port,
                seconds=seconds,
                connections=self.args.connections,
                cookie=self.cookies[name.rsplit("_", 1)[0]] if returning else "",
                expect=frozenset() if returning or name.endswith("_plain") else self.expect,
                watch=None if phase == "warm-up" or distinct else memory.watcher(server.workers),
                users=self.users if distinct else None,
            )
        )
        tally.worker_cpu = cpu_seconds(server.workers) - cpu
        self.tallies.setdefault((name, visit), Tally()).add(tally)
        if phase != "warm-up":
            memory.requests += tally.requests
        if phase == "timed":
            self.timed.setdefault((name, visit), Tally()).add(tally)
            self.best[name, visit] = max(self.best.get((name, visit), 0.0), tally.rate)

    def run(self) -> None:
        args = self.args
        names = list(self.servers)
        for name in names:  # warm-up: imports, caches, each worker's first signature
            for visit in args.visits:
                if name.rsplit("_", 1)[1] in variants(visit):
                    self.slice(name, visit, 1.0, "warm-up")
        cpu, wall = time.process_time(), time.monotonic()
        for _ in range(args.rounds):
            for app in args.apps:
                for visit in args.visits:
                    for variant in variants(visit):
                        self.slice(f"{app}_{variant}", visit, args.seconds / args.rounds, "timed")
        self.client_cpu = (time.process_time() - cpu) / (time.monotonic() - wall)
        soak = time.monotonic()
        soaked = [visit for visit in args.visits if "cf" in variants(visit)]
        for name in names:  # untimed load until each middleware server has served the target
            memory = self.memory[name]
            while name.endswith("_cf") and memory.requests < args.requests_target:
                before = memory.requests
                for visit in soaked:
                    self.slice(name, visit, 5.0, "soak")
                if memory.requests == before or time.monotonic() - soak > 1800:
                    break  # a dead server, or half an hour: stop and report what was served


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return total / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace) -> bool:
    """The whole benchmark; prints the report and returns whether every goal was met."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if args.key == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    signer = Signer(KEY_ID, key)
    served = [v for v in VARIANTS if any(v in variants(visit) for visit in args.visits)]
    names = [f"{app}_{variant}" for app in args.apps for variant in served]
    with tempfile.TemporaryDirectory() as logs:
        with serving(
            names, workers=args.workers, env=key_environment(key), log_dir=Path(logs)
        ) as servers:
            bench = Bench(args, servers, {}, expected_cookies(signer))
            for app in args.apps if "returning" in args.visits else ():
                # the set a returning visitor holds: what the server gave
                status, values = asyncio.run(fetch(servers[f"{app}_cf"].port))
                if status != 200 or not values:
                    log = servers[f"{app}_cf"].output()[-3000:]
                    raise RuntimeError(f"{app}_cf: status {status}, Set-Cookie {values}\n{log}")
                bench.tallies[f"{app}_cf", "first"] = Tally(samples=[(PATH, values)])
                bench.cookies[app] = cookie_header(values)
            bench.run()
        # out of ``serving``: the servers have stopped, their exit codes are known
        return report(bench, Verifier({KEY_ID: signer.public_key}))


def report(bench: Bench, verifier: Verifier) -> bool:
    """Print what ``bench`` measured; whether every goal was met."""
    args = bench.args
    print(
        f"{args.connections} connections, {args.workers} workers per server, key {args.key}; "
        f"{args.rounds} slices of {args.seconds / args.rounds:.1f} s per app, visit and variant"
    )
    print(f"load generator: {bench.client_cpu:.0%} of one core during the timed rounds\n")
    print(
        f"{'':<21}{'requests/s (best slice)':>24}{'app sends them':>18}"
        f"{'worker CPU us/request':>25}\n"
        f"{'app':<10}{'visit':<11}{'without':>9}{'with':>8}{'ratio':>7}{'req/s':>9}{'ratio':>9}"
        f"{'without':>9}{'with':>8}{'added':>8}{'errors':>8}{'malformed':>10}"
    )
    ratios = []
    for visit in args.visits:
        if visit == "distinct":
            print(
                "distinct: every request a user never seen before, each a signature of its own; "
                "'without' is the app whose view signs\nwith bare cryptography and sends the same "
                "headers itself"
            )
        for app in args.apps:
            base, cf = (bench.best[f"{app}_{v}", visit] for v in variants(visit)[:2])
            same = bench.best.get((f"{app}_headers", visit))
            ratios.append((cf / (same or base), f"{app} {visit}"))
            same_cells = f"{same:>9.0f}{cf / same:>9.2f}" if same else f"{'-':>9}{'-':>9}"
            cpu = [bench.timed[f"{app}_{v}", visit] for v in variants(visit)[:2]]
            us = [t.worker_cpu / t.requests * 1e6 for t in cpu]
            errors = sum(bench.tallies[f"{app}_{v}", visit].errors for v in variants(visit))
            malformed = sum(bench.tallies[f"{app}_{v}", visit].malformed for v in variants(visit))
            print(
                f"{app:<10}{visit:<11}{base:>9.0f}{cf:>8.0f}{cf / base:>7.2f}{same_cells}"
                f"{us[0]:>9.0f}{us[1]:>8.0f}{us[1] - us[0]:>8.0f}{errors:>8}{malformed:>10}"
            )
    print(
        "app sends them: the plain app sending, from its own view, the headers the middleware "
        "adds to a first visit\n(Cache-Control, Vary, the signed set): its requests/s, and the "
        "middleware's ratio to it"
    )
    timed = sum(t.requests for t in bench.timed.values())
    print(f"timed rounds: {timed} requests; errors and malformed count every request sent")
    for (name, visit), tally in bench.tallies.items():
        for problem, times in tally.problems.items():
            print(f"  {name} {visit}: {problem} ({times} times)")

    samples = [
        s
        for (name, _), t in bench.tallies.items()
        if name.endswith(("_cf", "_users"))
        for s in t.samples
    ]
    inside, outside, refusals = verify_samples(verifier, samples)
    print(
        f"\ncookie sets checked with the Verifier: {len(samples)}; allowed inside the resource "
        f"(such as {INSIDE}): {inside}; refused (AccessDenied) outside it: {outside}"
    )
    for reason in refusals:
        print(f"  {reason}")

    print(
        f"\n{'server':<17}{'requests':>9}{'worker':>8}{'RSS, first quarter':>20}"
        f"{'last quarter':>14}{'growth':>8}"
    )
    growths = []
    for name, memory in bench.memory.items():
        for pid, (early, late) in sorted(memory.quarters().items()):
            growths.append((late / early - 1, memory.requests, name))
            print(
                f"{name:<17}{memory.requests:>9}{pid:>8}{early / 1024:>17.1f} MB"
                f"{late / 1024:>11.1f} MB{late / early - 1:>+8.1%}"
            )
    print()
    for name, server in bench.servers.items():
        log = server.log_problems()
        print(
            f"{name}: exit code {server.exit_code}, workers left running "
            f"{server.leftover or 'none'}, problems in its log {len(log)}"
        )
        for line in log[:MAX_PROBLEMS]:
            print(f"  {line}")

    lowest = min(ratios)
    watched = [g for g in growths if g[2].endswith("_cf")]
    highest = max(watched, default=(float("nan"), 0, ""))
    goals = {
        f"requests/s ratio >= 0.90 to the plain app (returning), the app sending the same headers "
        f"(first), the app signing bare (distinct) (lowest {lowest[0]:.2f}, {lowest[1]})": lowest[0]
        >= 0.90,
        "0 errors": all(t.errors == 0 for t in bench.tallies.values()),
        "0 malformed responses": all(t.malformed == 0 for t in bench.tallies.values()),
        "every sampled cookie set verifies inside the resource and is refused outside": (
            0 < len(samples) == inside == outside
        ),
        "clean shutdown (exit code 0, no worker left, nothing in the logs)": all(
            s.exit_code == 0 and not s.leftover and not s.log_problems()
            for s in bench.servers.values()
        ),
    }
    if any(name.endswith("_cf") for name in bench.servers):
        goals[
            f"worker RSS growth < 10% over >= {args.requests_target} requests, middleware "
            f"servers (highest {highest[0]:+.1%}, {highest[2]})"
        ] = len(watched) == len(args.apps) * args.workers and all(
            g < 0.10 and n >= args.requests_target for g, n, _ in watched
        )
    print("\ngoals:")
    for goal, met in goals.items():
        print(f"  {'met' if met else 'NOT MET'}: {goal}")
    return all(goals.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests-target", type=int, default=100_000)
    parser.add_argument("--apps", default="starlette,fastapi,flask")
    parser.add_argument("--key", choices=("rsa", "ecdsa"), default="rsa")
    parser.add_argument("--visits", default=",".join(VISITS))
    args = parser.parse_args()
    args.apps = args.apps.split(",")
    unknown = set(args.apps) - set(SERVERS)
    if unknown:
        parser.error(f"--apps: unknown {', '.join(sorted(unknown))}; choose from {list(SERVERS)}")
    args.visits = args.visits.split(",")
    unknown = set(args.visits) - set(VISITS)
    if unknown:
        parser.error(f"--visits: unknown {', '.join(sorted(unknown))}; choose from {VISITS}")
    sys.exit(0 if run(args) else 1)


if __name__ == "__main__":
    main()
