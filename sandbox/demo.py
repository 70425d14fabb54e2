"""`make demo`: the console on a synthetic Stripe account, with no Stripe account or SMTP server.

Everything lives under data/demo/ and is made once; a second run reuses it and
only starts the servers (plus a cheap incremental sync):

1. a generated account (python -m sandbox generate), served by the sandbox API on 127.0.0.1;
2. a sync of that account into the demo warehouse (python -m sync), then the sync loop
   (every 15 minutes, and seconds after each webhook the sandbox sends when something changes);
3. a cookie key and one staff user per role, with generated passwords, printed;
4. the console on http://127.0.0.1:8501 (emails go to data/demo/outbox as .eml files).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("DEMO_DIR", ROOT / "data" / "demo"))
ACCOUNT = DEMO / "account"
SANDBOX_PORT = int(os.environ.get("DEMO_SANDBOX_PORT", "12111"))
CONSOLE_PORT = int(os.environ.get("DEMO_CONSOLE_PORT", "8501"))
WEBHOOK_PORT = int(os.environ.get("DEMO_WEBHOOK_PORT", "8502"))
DEMO_CUSTOMERS = os.environ.get("DEMO_CUSTOMERS", "2000")
# Fake keys that only this sandbox knows: restricted, as production should be (README, "Restricted keys").
SYNC_KEY = "rk_test_demo_sync_read_only"
PORTAL_KEY = "rk_test_demo_console"  # STRIPE_PORTAL_API_KEY: the console's key
ROLES = {"support": "Sam Support", "finance": "Fiona Finance", "admin": "Ada Admin"}


def python(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True)


def demo_env() -> dict[str, str]:
    key_file = DEMO / "cookie_key"
    if not key_file.exists():
        # Created private: never readable by others, not even for an instant.
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(48))
    return {
        **os.environ,
        "CONSOLE_SECRETS_FILE": str(DEMO / "no-secrets.toml"),
        "BILLING_DB": str(DEMO / "billing.duckdb"),
        "OPS_DB": str(DEMO / "ops.sqlite3"),
        "USERS_FILE": str(DEMO / "users.yaml"),
        "OUTBOX_DIR": str(DEMO / "outbox"),
        "COOKIE_KEY": key_file.read_text().strip(),
        "STRIPE_SYNC_API_KEY": SYNC_KEY,
        "STRIPE_PORTAL_API_KEY": PORTAL_KEY,
        "STRIPE_API_BASE": f"http://127.0.0.1:{SANDBOX_PORT}",
        "PORTAL_RETURN_URL": f"http://127.0.0.1:{CONSOLE_PORT}/",
        "COMPANY_NAME": "Demo SaaS",
        "MAIL_FROM": "billing@demo.invalid",
    }


def ensure_staff(env: dict[str, str]) -> list[str]:
    """One user per role; passwords generated on the first run and kept in data/demo/logins.txt."""
    logins = DEMO / "logins.txt"
    if not logins.exists():
        lines = []
        for role, name in ROLES.items():
            password = secrets.token_urlsafe(12)
            subprocess.run(
                [sys.executable, "-m", "console.users", "add", role, "--role", role, "--name", name,
                 "--email", f"{role}@demo.invalid", "--password-stdin"],
                cwd=ROOT, env=env, input=password + "\n", text=True, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            lines.append(f"{role:<8} username: {role:<8} password: {password}")
        logins.write_text("\n".join(lines) + "\n")
        logins.chmod(0o600)
    return logins.read_text().splitlines()


def wait_for(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {what} stopped at start (exit {process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 (fixed http://127.0.0.1 URL)
            return
        except urllib.error.HTTPError:
            return  # it answers: that is all we wait for
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the {what} did not answer at {url}")


def main() -> int:
    os.umask(0o077)  # the demo's warehouse, account, users and outbox are private
    DEMO.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = demo_env()
    if not (ACCOUNT / "DONE").exists():
        print(f"Generating a demo account of {DEMO_CUSTOMERS} customers over 24 months...", flush=True)
        python("-m", "sandbox", "generate", "--customers", DEMO_CUSTOMERS, "--months", "24",
               "--seed", "42", "--out", str(ACCOUNT))  # fmt: skip
        (ACCOUNT / "DONE").touch()
    # Keys and the webhook signing secret go to children through the environment: a command
    # line is visible to every user of the machine (ps, /proc/<pid>/cmdline). A fresh secret
    # per demo is shared by the sandbox (sender) and the sync (receiver).
    webhook_secret = "whsec_" + secrets.token_hex(24)
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data", str(ACCOUNT), "--port", str(SANDBOX_PORT),
         "--in-place", "--webhook-url", f"http://127.0.0.1:{WEBHOOK_PORT}/stripe/webhook"],
        cwd=ROOT,
        env={
            **os.environ,
            "SANDBOX_RESTRICTED_KEYS": f"{SYNC_KEY}=read,{PORTAL_KEY}=console",
            "SANDBOX_WEBHOOK_SECRET": webhook_secret,
        },
    )  # fmt: skip
    sync_loop = None
    try:
        wait_for(f"http://127.0.0.1:{SANDBOX_PORT}/v1/customers", sandbox, "sandbox API")
        python("-m", "sync", env=env)
        # Paying an invoice on the sandbox's hosted page shows in the console within seconds.
        sync_loop = subprocess.Popen(
            [sys.executable, "-m", "sync", "--every", "15m", "--listen", f"127.0.0.1:{WEBHOOK_PORT}"],
            cwd=ROOT, env={**env, "STRIPE_WEBHOOK_SECRET": webhook_secret},
        )  # fmt: skip
        logins = ensure_staff(env)
        print("\nDemo staff logins (also in data/demo/logins.txt):", *logins, sep="\n  ")
        print(
            f"\nOpen http://127.0.0.1:{CONSOLE_PORT} (Ctrl-C stops the console and the sandbox)\n", flush=True
        )
        console = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "console/server.py",
             "--server.port", str(CONSOLE_PORT), "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            return console.wait()
        except KeyboardInterrupt:
            console.send_signal(signal.SIGINT)
            return console.wait()
    finally:
        for process in (sync_loop, sandbox):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as failed:
        sys.exit(f"demo: `{' '.join(failed.cmd[1:])}` failed (exit {failed.returncode}); see the lines above")
