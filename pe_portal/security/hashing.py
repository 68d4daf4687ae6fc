"""The CPU share of password hashing and the admission of sign-ins to it (issue 19).

bcrypt releases the GIL, so its threads run beside the event loop on other cores. Two rules:

* **A budget of the CPU.** Hashing may use `SIGN_IN_CPU_SHARE` of the machine's cores, split
  over the server's processes (`WEB_CONCURRENCY`), whether reads compete or not. Each thread
  is paced: after a hash it rests until the CPU it used is its part of the budget. One thread
  per core of budget (or part of one), at the event loop's priority: when reads saturate the
  CPU it gets up to half of what its process gets, never more than the budget; the reads keep
  the rest. (Before: nice 19, so saturating reads left sign-ins nothing with two workers; more
  threads, or a weight without the budget, starved the event loop: docs/benchmarks.md.)
* **A queue bounded by time.** A sign-in takes a turn before any other work; turns are twice
  the threads, so one's database work overlaps another's hashing. The wait for a turn is
  estimated from the queue: its position times the measured mean turn (an EWMA of real ones,
  so it follows the budget and the contention) divided by the turns. A sign-in whose estimate
  exceeds `SIGN_IN_MAX_WAIT` is refused without joining the queue (answered when that wait is
  over), `Retry-After` the estimate; one that joined and still waits that long is refused then.
  A refused attempt costs its request and no queue place.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from pe_portal import metrics
from pe_portal.config import get_settings
from pe_portal.errors import Unavailable

T = TypeVar("T")

_FIRST_TURN_SECONDS = 0.3  # a cost-12 compare and its queries on a current core, until measured
_EWMA_WEIGHT = 0.2  # of the newest turn: about the last ten count
_MAX_RETRY_AFTER = 60


@dataclass(frozen=True)
class Plan:
    """This process's part of the hashing budget: its threads, the fraction of the time each
    may compute (`duty`), and the sign-ins in progress at once (`turns`)."""

    budget: float  # cores
    threads: int
    duty: float
    turns: int


def plan(*, share: float, cores: int, workers: int) -> Plan:
    """`share` of the machine's cores, split over `workers` processes: the threads the budget
    needs, each paced to its part. One thread per core of budget: against the process's event
    loop, at the same priority, it gets at most half of a contended CPU, never more than the
    budget."""
    budget = share * cores / workers
    threads = max(1, math.ceil(budget - 1e-9))
    return Plan(budget=budget, threads=threads, duty=budget / threads, turns=threads * 2)


@dataclass
class _Turns:
    """One event loop's turns: a FIFO semaphore and who holds or waits for it."""

    free: asyncio.Semaphore
    held: int = 0
    waiting: int = 0


@dataclass
class Capacity:
    """The process's hashing threads and the admission to them."""

    plan: Plan
    max_wait: float
    mean_turn: float = _FIRST_TURN_SECONDS
    executor: ThreadPoolExecutor = field(init=False)
    _loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = field(
        init=False, default_factory=weakref.WeakKeyDictionary
    )

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=self.plan.threads, thread_name_prefix="bcrypt"
        )

    def turns(self) -> _Turns:
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is None:
            found = self._loops[loop] = _Turns(asyncio.Semaphore(self.plan.turns))
        return found

    def estimated_wait(self, turns: _Turns) -> float:
        """Seconds until a newcomer gets a turn: its place beyond the turns, each turn freed
        every mean turn / turns seconds."""
        ahead = turns.held + turns.waiting
        if ahead < self.plan.turns:
            return 0.0
        return (ahead - self.plan.turns + 1) * self.mean_turn / self.plan.turns

    def took(self, seconds: float) -> None:
        self.mean_turn += _EWMA_WEIGHT * (seconds - self.mean_turn)

    def busy(self, estimate: float, reason: str) -> Unavailable:
        metrics.SIGN_IN_REFUSED.labels(reason).inc()
        retry_after = min(_MAX_RETRY_AFTER, max(1, math.ceil(estimate)))
        return Unavailable(
            "Too many sign-ins at once; retry in a moment.", code="busy", retry_after=retry_after
        )


def _paced(
    duty: float,
    answer: asyncio.Future[T],
    function: Callable[[bytes, bytes], T],
    first: bytes,
    second: bytes,
) -> None:
    """`function` on this hashing thread, its outcome handed to `answer` at once; then the
    thread rests until the CPU it used is `duty` of the time since it began. CPU time, not
    wall time: a hash slowed by contention rests less, or not at all."""
    began, cpu = time.monotonic(), time.thread_time()
    loop = answer.get_loop()
    try:
        outcome: tuple[T | None, Exception | None] = (function(first, second), None)
    except Exception as error:  # handed to the caller, raised there
        outcome = (None, error)
    with contextlib.suppress(RuntimeError):  # the loop has closed (its caller is gone)
        loop.call_soon_threadsafe(_settle, answer, *outcome)
    used, now = time.thread_time() - cpu, time.monotonic()
    metrics.PASSWORD_HASHES.observe(now - began)
    metrics.PASSWORD_HASH_CPU.inc(used)
    rest = began + used / duty - now
    if rest > 0:
        time.sleep(rest)


def _settle(answer: asyncio.Future[T], result: T | None, error: Exception | None) -> None:
    if answer.done():  # the caller gave up (cancelled)
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)  # type: ignore[arg-type]


_capacity: Capacity | None = None
_admitted: ContextVar[bool] = ContextVar("pe_portal_hashing_admitted", default=False)


def configure(*, share: float, workers: int, max_wait: float) -> Capacity:
    """Size this process's hashing for `share` of the machine split over `workers` processes
    (the app calls it at start-up with its settings). The same sizing again changes nothing."""
    global _capacity
    previous = _capacity
    wanted = plan(share=share, cores=os.cpu_count() or 1, workers=workers)
    if previous is not None and (previous.plan, previous.max_wait) == (wanted, max_wait):
        return previous
    _capacity = Capacity(wanted, max_wait)
    if previous is not None:
        previous.executor.shutdown(wait=False)
    return _capacity


def capacity() -> Capacity:
    """The configured capacity, or the one the process's settings ask for (CLI commands)."""
    if _capacity is not None:
        return _capacity
    settings = get_settings()
    return configure(
        share=settings.sign_in_cpu_share, workers=settings.web_concurrency,
        max_wait=settings.sign_in_max_wait,
    )  # fmt: skip


async def _take_turn(capacity: Capacity, turns: _Turns) -> None:
    if capacity.estimated_wait(turns) > capacity.max_wait:
        # Answered after the max wait, though decided now: a client that retries in a loop
        # (wrk does) then costs one request a second per connection, not the CPU the share
        # leaves to the rest; and the answer still comes within the max wait.
        await asyncio.sleep(capacity.max_wait)
        raise capacity.busy(capacity.estimated_wait(turns), "estimate")
    arrived = time.monotonic()
    turns.waiting += 1
    metrics.SIGN_IN_QUEUE.inc()
    try:
        async with asyncio.timeout(capacity.max_wait):
            await turns.free.acquire()
    except TimeoutError:
        raise capacity.busy(capacity.estimated_wait(turns), "timeout") from None
    finally:
        turns.waiting -= 1
        metrics.SIGN_IN_QUEUE.dec()
    metrics.SIGN_IN_WAIT.observe(time.monotonic() - arrived)


@contextlib.asynccontextmanager
async def admitted() -> AsyncIterator[None]:
    """A turn at password hashing, or Unavailable (503 busy, `Retry-After` from the queue). A
    sign-in takes it before any other work; its compare (and any rehash) run within it."""
    if _admitted.get():
        yield
        return
    current = capacity()
    turns = current.turns()
    await _take_turn(current, turns)
    turns.held += 1
    started = time.monotonic()
    token = _admitted.set(True)
    try:
        yield
    finally:
        _admitted.reset(token)
        turns.held -= 1
        turns.free.release()
        current.took(time.monotonic() - started)


async def run(function: Callable[[bytes, bytes], T], first: bytes, second: bytes) -> T:
    """`function(first, second)` on a hashing thread, within a turn."""
    async with admitted():
        current = capacity()
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        current.executor.submit(_paced, current.plan.duty, answer, function, first, second)
        return await answer
