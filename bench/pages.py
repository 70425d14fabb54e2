"""Page load: a real headless Chromium, signed in as a support agent, opens the customers
page and the dunning queue, and signed in as finance, the Churn and Dunning outcomes pages,
of a console served by `streamlit run console/server.py` on a large warehouse; the time
from navigation until the page shows its data (for the finance pages: their first chart).

"Cold" is the first load after the console process started, which is also the first
load after each published sync: the console opens the new snapshot (building its
search table) and runs every query. "Warm" loads are later visits in new tabs, as
agents make them all day, served from the per-snapshot cache where the console keeps
one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

from bench.account import free_port
from bench.measure import PeakMemory, percentile
from bench.results import Result
from bench.synthetic_warehouse import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "bench-agent"
FINANCE_USERNAME = "bench-finance"
COOKIE_NAME = "billing_console_auth"  # settings default
TARGET_MS = 2000
TIMEOUT_MS = 180_000


def console_env(warehouse: Path, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_", "BILLING_"))}
    env.update(
        BILLING_DB=str(warehouse),
        OPS_DB=str(work / "pages-ops.sqlite3"),
        USERS_FILE=str(work / "pages-users.yaml"),
        COOKIE_KEY=secrets.token_urlsafe(48),
        CONSOLE_SECRETS_FILE="/nonexistent",
        OUTBOX_DIR=str(work / "pages-outbox"),
    )
    return env


def add_agent(env: dict[str, str], password: str) -> None:
    """A support agent and a finance user, made the way an admin makes them."""
    for leftover in (Path(env["USERS_FILE"]), Path(env["OPS_DB"])):
        leftover.unlink(missing_ok=True)
    for username, role, name in ((USERNAME, "support", "Bench Agent"),
                                 (FINANCE_USERNAME, "finance", "Bench Finance")):  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "console.users", "add", username, "--role", role,
             "--name", name, "--email", f"{username}@example.com", "--password-stdin"],
            input=password + "\n", text=True, cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip


@dataclass
class ConsoleServer:
    url: str
    peak_rss_bytes: int = 0  # known once the process has exited


@contextmanager
def console(env: dict[str, str], log: Path) -> Iterator[ConsoleServer]:
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "console" / "server.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = ConsoleServer(f"http://127.0.0.1:{port}")
    url = server.url
    memory = PeakMemory(process.pid, interval=0.2)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the console did not start, see {log}") from None
                time.sleep(0.3)
        yield server
    finally:
        server.peak_rss_bytes = memory.stop()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def customers_shown(page: Page) -> None:
    page.get_by_text("customer(s), newest first").wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=TIMEOUT_MS)


def dunning_shown(page: Page) -> None:
    page.get_by_text("Sorted by amount at risk").wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=TIMEOUT_MS)


def home_shown(page: Page) -> None:
    page.get_by_text("Welcome, Bench").wait_for(timeout=TIMEOUT_MS)


def first_chart_shown(page: Page) -> None:
    """The page's first Plotly chart has drawn its plot area."""
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=TIMEOUT_MS)


def sign_in(context: BrowserContext, url: str, username: str, password: str) -> None:
    page = context.new_page()
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Welcome, Bench").wait_for(timeout=TIMEOUT_MS)
    # The sign-in cookie is written by a component just after the welcome: a new load
    # before it lands would show the sign-in form again.
    deadline = time.monotonic() + 30
    while not any(c["name"] == COOKIE_NAME for c in context.cookies()):
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not set its sign-in cookie")
        time.sleep(0.1)
    page.close()


def timed_load(page: Page, url: str, shown: Callable[[Page], None]) -> float:
    started = time.perf_counter()
    page.goto(url)
    shown(page)
    return (time.perf_counter() - started) * 1000


def run(warehouse: Path, work: Path, runs: int = 5) -> Result:
    env = console_env(warehouse, work)
    password = secrets.token_urlsafe(12)
    add_agent(env, password)
    # url path -> (label, what shows the page is there, who opens it); Home (no warehouse
    # query) is the reference: what any page costs before its own queries.
    views = {"": ("Home page (reference: no warehouse query)", home_shown, USERNAME),
             "customers": ("Customers page (all customers, first page)", customers_shown, USERNAME),
             "dunning_queue": ("Dunning queue page", dunning_shown, USERNAME),
             "churn": ("Churn page, first chart (finance)", first_chart_shown, FINANCE_USERNAME),
             "dunning": ("Dunning outcomes page, first chart (finance)", first_chart_shown,
                         FINANCE_USERNAME)}  # fmt: skip
    cold: dict[str, float] = {}
    warm: dict[str, list[float]] = {key: [] for key in views}
    with console(env, work / "pages-console.log") as server, sync_playwright() as playwright:
        url = server.url
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            contexts = {}
            for username in (USERNAME, FINANCE_USERNAME):
                contexts[username] = browser.new_context(viewport={"width": 1400, "height": 900})
                sign_in(contexts[username], url, username, password)
            for key, (_, shown, username) in views.items():
                page = contexts[username].new_page()
                cold[key] = timed_load(page, f"{url}/{key}", shown)
                page.close()
                print(f"  {key or 'home'}: cold {cold[key]:,.0f} ms", flush=True)
            for _ in range(runs):
                for key, (_, shown, username) in views.items():
                    tab = contexts[username].new_page()
                    warm[key].append(timed_load(tab, f"{url}/{key}", shown))
                    tab.close()
        finally:
            browser.close()
    rows, figures = [], {}
    for key, (label, _, _) in views.items():
        p50, p95 = percentile(warm[key], 0.5), percentile(warm[key], 0.95)
        met = "yes" if max(cold[key], p95) < TARGET_MS else ("warm only" if p95 < TARGET_MS else "**no**")
        rows.append([label, round(cold[key]), round(p50), round(p95), f"< {TARGET_MS:,}", met])
        figures[key or "home"] = {"cold_ms": round(cold[key], 1), "warm_ms": [round(x, 1) for x in warm[key]]}
    figures["console_peak_rss_mb"] = round(server.peak_rss_bytes / 1e6, 1)
    return Result(
        name="pages",
        title="Page load in headless Chromium, until the page shows its data",
        columns=["page", "cold ms", f"warm p50 ms ({runs} runs)", "warm p95 ms", "target ms", "met"],
        rows=rows,
        notes=[
            f"Warehouse: {warehouse.name} ({warehouse.stat().st_size / 1e9:.1f} GB). Console: "
            "`streamlit run console/server.py`, signed in through the form as a support agent (customers, "
            "dunning queue) and as finance (churn, dunning outcomes); Chromium "
            "headless (Debian's /usr/bin/chromium via Playwright).",
            "Measured from `page.goto` until the page's result caption and data grid are visible "
            "(a full load: HTML, scripts, websocket, sign-in cookie check, queries, render); for the "
            "finance pages, until their first Plotly chart has drawn.",
            "Cold: the first load of each page after the console started, as after every published sync "
            "(the customers page also opens the new snapshot: an attach and a copy of the sync's search "
            "table into memory). Warm: new tabs "
            "later, served from the per-snapshot cache.",
            f"Peak memory (RSS) of the console process over the run: {server.peak_rss_bytes / 1e6:,.0f} MB.",
        ],
        figures=figures,
    )
