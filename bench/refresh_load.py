"""Refresh load: one chain per connection (each response's token is the next request's), which
wrk cannot keep (it rebuilds a request when a write would block, losing the token it took).

`python -m bench.refresh_load URL SECONDS TOKEN_FILE` prints one JSON line (with each chain's
current token, so that a later run can go on with it); run in its own process.
A path in URL (the baseline's `/baseline/refresh`) replaces `/api/v1/auth/refresh`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

_TOKEN = re.compile(rb'"refreshToken":"([^"]+)"')


PATH = b"/api/v1/auth/refresh"


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                token: bytes, path: bytes = PATH) -> tuple[int, bytes]:  # fmt: skip
    """One keep-alive POST /api/v1/auth/refresh over a raw connection (httpx costs the CPU the
    server needs on a 2-core machine)."""
    body = b'{"refreshToken": "' + token + b'"}'
    writer.write(
        b"POST " + path + b" HTTP/1.1\r\nHost: " + host.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    return status, await reader.readexactly(length)


async def _chain(url: str, token: str, stop: float, latencies: list[float],
                 statuses: Counter[int]) -> str:  # fmt: skip
    """Refresh until `stop`; the chain's current token (where a later run can go on)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    current = token.encode()
    try:
        while time.monotonic() < stop:
            started = time.perf_counter()
            status, body = await _post(
                reader, writer, parts.netloc, current, parts.path.encode() or PATH
            )
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            match = _TOKEN.search(body)
            if status != 200 or match is None:
                break
            current = match.group(1)
    finally:
        writer.close()
    return current.decode()


async def main(url: str, seconds: float, tokens: list[str]) -> dict[str, object]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    stop = started + seconds
    current = await asyncio.gather(
        *(_chain(url, token, stop, latencies, statuses) for token in tokens)
    )
    elapsed = time.monotonic() - started
    latencies.sort()

    def pick(quantile: float) -> int:
        index = min(len(latencies) - 1, int(quantile * len(latencies)))
        return int(latencies[index] * 1e6) if latencies else 0

    return {
        "requests": len(latencies), "duration_us": int(elapsed * 1e6),
        "p50_us": pick(0.50), "p99_us": pick(0.99), "max_us": pick(1.0),
        "errors": {"status": sum(n for code, n in statuses.items() if code >= 400)},
        "statuses": {str(code): n for code, n in statuses.items()},
        "tokens": current,
    }  # fmt: skip


if __name__ == "__main__":
    lines = Path(sys.argv[3]).read_text().split()
    print("BENCH_JSON " + json.dumps(asyncio.run(main(sys.argv[1], float(sys.argv[2]), lines))))
