"""Sign-in throttling in the ops store (issue 9): each attempt is reserved before the password
is checked; a lockout per (username, client address), timed from the last failure; from other
addresses only a growing delay per username, never a lockout.

Time is a frozen clock that the tests move forward (`clock`), not sleeping; the races run
in real threads and real processes. Every test runs on both backends of the ops store.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console import ops
from console.ops import login_throttle
from console.ops import store as ops_store
from console.ops.store import parse_time, time_text
from settings import load_settings
from tests.conftest import STAFF_PASSWORDS, race_processes
from tests.security.conftest import users_cli

pytestmark = pytest.mark.usefixtures("ops_backend")

LIMITS = login_throttle.LoginLimits(
    max_failures=3,
    window=timedelta(minutes=15),
    lockout=timedelta(minutes=10),
    max_delay=timedelta(seconds=60),
)
CONCURRENT = 16


class Clock:
    """The ops store's and the throttle's "now", moved only by `advance`."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return frozen.now.astimezone(tz) if tz else frozen.now.replace(tzinfo=None)

    monkeypatch.setattr(login_throttle, "datetime", FrozenDatetime)
    monkeypatch.setattr(ops_store, "datetime", FrozenDatetime)
    return frozen


@pytest.fixture
def store(ops_backend, clock):
    return ops.store_for(load_settings().ops_db)


def fail(store, username: str, client: str, times: int = 1) -> None:
    """Sign-in attempts that turned out wrong: reserved, never cleared."""
    for _ in range(times):
        assert login_throttle.reserve_attempt(store, username, client, LIMITS).allowed


def failed_at(store, clock: Clock, username: str, client: str, ago: timedelta) -> None:
    """A failure recorded `ago` before the clock's now."""
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO login_failures (at, username, client) VALUES (?, ?, ?)",
            (time_text(clock.now - ago), username, client),
        )


def failures(store) -> list[tuple[str, str, int]]:
    with store.connect() as conn:
        return [
            (r["username"], r["client"], r["cleared"])
            for r in conn.execute("SELECT * FROM login_failures ORDER BY id")
        ]


def last_failure(store) -> datetime:
    with store.connect() as conn:
        return parse_time(conn.execute("SELECT max(at) FROM login_failures").fetchone()[0])


def test_a_right_password_clears_its_reserved_attempt(store):
    attempt = login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS)
    assert attempt.allowed
    assert failures(store) == [("sam", "10.0.0.1", 0)]  # a failure until the password proves right
    login_throttle.succeeded(store, attempt)
    assert failures(store) == [("sam", "10.0.0.1", 1)]
    fail(store, "sam", "10.0.0.1", 2)
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed  # 2 failures, not 3


def test_a_username_is_locked_out_from_one_address_after_n_failures(store):
    fail(store, "sam", "10.0.0.1", LIMITS.max_failures)
    refused = login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS)
    assert not refused.allowed and refused.locked
    assert refused.retry_at == last_failure(store) + LIMITS.lockout
    assert len(failures(store)) == LIMITS.max_failures  # a refused attempt is not recorded
    # Colleagues behind the same address are not locked out by sam's typos.
    assert login_throttle.reserve_attempt(store, "ada", "10.0.0.1", LIMITS).allowed


def test_another_address_is_only_delayed_never_locked_out(store, clock):
    fail(store, "sam", "10.0.0.1", LIMITS.max_failures)  # an attacker's guesses from elsewhere
    delayed = login_throttle.reserve_attempt(store, "sam", "10.0.0.9", LIMITS)
    assert not delayed.allowed and not delayed.locked
    assert delayed.retry_at == last_failure(store) + timedelta(seconds=1)
    clock.advance(2)  # the delay passes
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.9", LIMITS).allowed  # the real user


@pytest.mark.parametrize(("failed", "delay"), [(3, 1), (4, 2), (5, 4), (8, 32), (9, 60), (30, 60)])
def test_the_delay_from_other_addresses_doubles_and_is_capped(store, failed, delay, clock):
    for n in range(failed):
        failed_at(store, clock, "sam", f"10.0.1.{n}", timedelta(0))  # spread over many addresses
    delayed = login_throttle.reserve_attempt(store, "sam", "10.0.0.9", LIMITS)
    assert not delayed.allowed and not delayed.locked  # however many, never a lockout
    assert delayed.retry_at == last_failure(store) + timedelta(seconds=delay)


def test_the_lockout_is_timed_from_the_last_failure_not_the_first(store, clock):
    # Three failures within the window: the first two 19 and 18 minutes ago, the last 9 minutes ago.
    # Timed from the first, the 10-minute lockout would have ended 9 minutes ago; from the last,
    # it ends in a minute.
    for minutes in (19, 18, 9):
        failed_at(store, clock, "sam", "10.0.0.1", timedelta(minutes=minutes))
    refused = login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS)
    assert not refused.allowed and refused.locked
    assert refused.retry_at == last_failure(store) + LIMITS.lockout
    assert refused.retry_at - clock.now == timedelta(minutes=1)
    clock.advance(61)
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed


def test_the_lock_lifts_after_the_lockout(store, clock):
    fail(store, "sam", "10.0.0.1", LIMITS.max_failures)
    clock.advance(9 * 60)
    assert not login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed
    clock.advance(2 * 60)
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed


def test_failures_spread_beyond_the_window_do_not_add_up(store, clock):
    fail(store, "sam", "10.0.0.1", 2)
    clock.advance(20 * 60)
    fail(store, "sam", "10.0.0.1")
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed


def test_simultaneous_attempts_in_threads_reserve_at_most_n(store):
    with store.connect():
        pass  # the schema exists before the race
    barrier = threading.Barrier(CONCURRENT)
    results: list[bool] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            barrier.wait(timeout=60)
            results.append(login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == CONCURRENT
    assert sum(results) == LIMITS.max_failures
    assert len(failures(store)) == LIMITS.max_failures


ATTEMPT_SCRIPT = """
import threading
from datetime import timedelta
from console import ops
from console.ops import login_throttle
from settings import load_settings

store = ops.store_for(load_settings().ops_db)
limits = login_throttle.LoginLimits(3, timedelta(minutes=15), timedelta(minutes=10), timedelta(minutes=1))
with store.connect():
    pass  # connected before the race
results = []


def attempt():
    results.append(login_throttle.reserve_attempt(store, "sam", "10.0.0.1", limits).allowed)


threads = [threading.Thread(target=attempt) for _ in range(THREADS)]
wait_for_go()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(*results)
"""


def test_simultaneous_attempts_in_two_processes_reserve_at_most_n(store, tmp_path: Path):
    """16 sign-ins at once, 8 threads in each of two processes (as two console hosts would)."""
    with store.connect():
        pass  # the schema exists before the race
    outputs = race_processes(f"THREADS = {CONCURRENT // 2}\n{ATTEMPT_SCRIPT}", 2, tmp_path)
    allowed = [word for out in outputs for word in out.split()]
    assert sorted(allowed) == ["False"] * (CONCURRENT - LIMITS.max_failures) + ["True"] * LIMITS.max_failures
    assert len(failures(store)) == LIMITS.max_failures


def test_admin_unlocks_a_username_or_an_address(store):
    fail(store, "sam", "10.0.0.1", 3)
    fail(store, "ada", "10.0.0.5", 3)
    cleared = users_cli("unlock", "sam")
    assert cleared.returncode == 0 and "cleared 3" in cleared.stdout
    assert not login_throttle.reserve_attempt(store, "ada", "10.0.0.5", LIMITS).allowed
    assert len(failures(store)) == 6  # cleared, not deleted: the record stays
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed
    assert users_cli("unlock", "--client", "10.0.0.5").returncode == 0
    assert login_throttle.reserve_attempt(store, "ada", "10.0.0.5", LIMITS).allowed
    refused = users_cli("unlock")
    assert refused.returncode == 2 and "username or --client" in refused.stderr


def test_clear_failures_unlocks(store):
    fail(store, "sam", "10.0.0.1", 3)
    assert login_throttle.clear_failures(store, username="sam") == 3
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed
    fail(store, "ada", "10.0.0.5", 3)
    assert login_throttle.clear_failures(store, client="10.0.0.5") == 3
    assert login_throttle.reserve_attempt(store, "ada", "10.0.0.5", LIMITS).allowed


def test_sign_ins_page_lists_recent_failures_and_unlocks(app_as, store):
    fail(store, "sam", "10.0.0.1", 3)
    at = app_as("admin", "pages/sign_ins.py").run()
    assert not at.exception
    listed = at.dataframe[0].value
    assert listed[["username", "client", "failures"]].values.tolist() == [["sam", "10.0.0.1", 3]]
    at.selectbox[0].set_value("sam")
    at.button[0].click()
    at.run()
    assert "Cleared 3 failed sign-in(s)." in [s.value for s in at.success]
    assert login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS).allowed


def sign_in(at, username: str, password: str):
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def test_sign_in_form_refuses_after_n_failures_then_allows_again(app_as, monkeypatch, store, clock):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("LOGIN_LOCKOUT_MINUTES", "10")
    at = app_as(None).run()
    for _ in range(3):
        at = sign_in(at, "sam", "wrong-password")
        assert [e.value for e in at.error] == ["Wrong username or password."]
    assert failures(store) == [("sam", "unknown", 0)] * 3  # every failure recorded

    at = sign_in(at, "sam", STAFF_PASSWORDS["sam"])  # the right password, but locked
    assert "Too many failed sign-ins" in at.error[0].value
    assert "10 minute(s)" in at.error[0].value
    assert "staff" not in at.session_state
    assert len(failures(store)) == 3  # refused before any password check

    clock.advance(11 * 60)
    at = sign_in(at, "sam", STAFF_PASSWORDS["sam"])
    assert not at.error
    assert at.session_state["staff"].username == "sam"
    assert failures(store)[-1] == ("sam", "unknown", 1)  # the right password cleared its attempt


def test_sign_in_form_delays_a_username_attacked_from_elsewhere(app_as, monkeypatch, store, clock):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    for n in range(8):
        failed_at(store, clock, "sam", f"10.0.2.{n}", timedelta(0))
    at = sign_in(app_as(None).run(), "sam", STAFF_PASSWORDS["sam"])
    assert "Too many failed sign-ins for this account" in at.error[0].value
    assert "second(s)" in at.error[0].value and "minute" not in at.error[0].value
    assert "staff" not in at.session_state
    clock.advance(61)  # the delay is capped at a minute: never a lockout
    at = sign_in(at, "sam", STAFF_PASSWORDS["sam"])
    assert at.session_state["staff"].username == "sam"


def test_unknown_usernames_are_throttled_like_real_ones(app_as, monkeypatch, store):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    at = app_as(None).run()
    for _ in range(2):
        at = sign_in(at, "mallory", "guess-guess-guess")
        assert [e.value for e in at.error] == ["Wrong username or password."]
    at = sign_in(at, "mallory", "guess-guess-guess")
    assert "Too many failed sign-ins from here" in at.error[0].value  # as for a real user: no hint
    # Others behind the same address still sign in.
    at = sign_in(at, "ada", STAFF_PASSWORDS["ada"])
    assert at.session_state["staff"].username == "ada"
    assert users_cli("unlock", "--client", "unknown").returncode == 0
    assert all(cleared for _, _, cleared in failures(store))
