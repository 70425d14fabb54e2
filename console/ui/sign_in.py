"""The sign-in gate: streamlit-authenticator for credentials and the cookie, plus what the
library lacks: a cookie key check (console/staff/cookie_key.py), revocable sessions and
throttling that reserves each attempt before the password is checked (console/ops).

The form is ours, not the library's `login()` widget, because throttling must refuse an
attempt before the password is checked; the library still checks the bcrypt hash and
signs and reads the cookie.
"""

from __future__ import annotations

import contextlib
import logging
import math
from datetime import UTC, datetime, timedelta

import jwt
import streamlit as st
import streamlit_authenticator as stauth

from console import ops
from console.ops import login_throttle, sessions
from console.staff import accounts
from console.staff.cookie_key import check_cookie_key
from console.staff.roles import ROLES, StaffUser
from settings import Settings

log = logging.getLogger(__name__)

# Session-state count: the next runs that show the sign-in form delete the browser cookie.
DROP_COOKIE = "drop_auth_cookie"
# The cookie component acts only if it stays mounted long enough for its script to run, and
# a quick rerun can unmount it first (seen under load): ask the browser a few times.
DROP_REPEATS = 3
COOKIE_REPEATS = "auth_cookie_repeats"
SESSION_ENDED = "staff_session_ended"


def _authenticator(settings: Settings, credentials: dict) -> stauth.Authenticate:
    # A dict, not the file path: given a path, the library rewrites the users file on every login.
    return stauth.Authenticate(
        credentials,
        cookie_name=settings.cookie_name,
        cookie_key=check_cookie_key(settings.cookie_key),
        cookie_expiry_days=settings.cookie_expiry_hours / 24,
        auto_hash=False,
        login_sleep_time=0,
    )


def _limits(settings: Settings) -> login_throttle.LoginLimits:
    return login_throttle.LoginLimits(
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
        lockout=timedelta(minutes=settings.login_lockout_minutes),
    )


def client_address() -> str:
    address = st.context.ip_address
    # None without a browser connection (AppTest, scripts): all such clients share one bucket.
    return address if isinstance(address, str) and address else "unknown"


def _staff_from(credentials: dict, username: str) -> StaffUser | None:
    entry = credentials["usernames"].get(username)
    if not entry or accounts.role_of(entry) not in ROLES:
        return None
    return StaffUser(username=username, name=entry.get("name") or username, role=accounts.role_of(entry))


class SignInGate:
    """One per script run: the library's cookie manager is a component that may render once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.credentials = accounts.read_credentials(settings.users_file)
        self.store = ops.store_for(settings.ops_db)
        self.authenticator = _authenticator(settings, self.credentials)

    def signed_in_staff(self) -> StaffUser | None:
        """The staff user of this browser session, after checking the server-side session record.

        Renders the sign-in form and returns None when nobody is signed in.
        """
        user = self._session_user()
        if user is not None:
            return user
        self._drop_cookie()
        if st.session_state.get(SESSION_ENDED):
            st.warning("Your session has ended. Please sign in again.")
        form = st.empty()
        with form.container():
            user = self._sign_in_form()
        if user is None:
            return None
        form.empty()
        st.session_state.pop(SESSION_ENDED, None)
        self._start_session(user)
        return user

    def _session_user(self) -> StaffUser | None:
        """The user of a live session: this browser session's, or the one its cookie names."""
        current = st.session_state.get("staff")
        expires_at = st.session_state.get("staff_session_expires")
        if isinstance(current, StaffUser) and expires_at is not None:
            user = _staff_from(self.credentials, current.username)
            live = sessions.session_is_live(self.store, current.username, expires_at)
            if user is not None and user.role == current.role and live:
                self._repeat_cookie(user, expires_at)
                return user
            self._forget()
            # Kept until the next sign-in: the cookie component's reruns would wipe a one-off message.
            st.session_state[SESSION_ENDED] = True
            return None
        token = self._cookie_token()
        if token is None:
            return None
        user = _staff_from(self.credentials, token["username"])
        if user is not None and sessions.session_is_live(self.store, token["username"], token["exp_date"]):
            _remember(user, token["exp_date"])
            return user
        st.session_state[DROP_COOKIE] = DROP_REPEATS  # a revoked or expired cookie: clear it from the browser
        return None

    def _drop_cookie(self) -> None:
        """Ask the browser to delete the sign-in cookie, rendered with the form so it runs;
        each repeat is a new component (its own key), so the browser acts on each."""
        left = st.session_state.get(DROP_COOKIE, 0)
        if not left:
            return
        st.session_state[DROP_COOKIE] = left - 1
        model = self.authenticator.cookie_controller.cookie_model
        # KeyError: the component no longer knows the cookie, it is gone already.
        with contextlib.suppress(KeyError):
            model.cookie_manager.delete(model.cookie_name, key=f"drop_auth_cookie_{left}")

    def _cookie_token(self) -> dict | None:
        """The sign-in cookie's claims, or None. A cookie that does not decode to a well-formed
        token of ours (another algorithm, a forged or damaged one) counts as no cookie."""
        try:
            token = self.authenticator.cookie_controller.get_cookie()
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as problem:
            log.warning("ignored a sign-in cookie that does not decode (%s)", type(problem).__name__)
            token = {}
        else:
            if not token:
                return None
            if isinstance(token.get("username"), str) and isinstance(token.get("exp_date"), int | float):
                return token
            log.warning("ignored a sign-in cookie without a username and expiry")
        st.session_state[DROP_COOKIE] = DROP_REPEATS
        return None

    def _sign_in_form(self) -> StaffUser | None:
        """The form; the staff user once their password is right, else None (messages shown)."""
        with st.form("sign_in"):
            st.subheader("Sign in to the billing console", anchor=False)
            username = st.text_input("Username", autocomplete="username").strip().lower()
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in")
        if not submitted:
            return None
        if not username or not password:
            st.error("Enter your username and password.")
            return None
        client = client_address()
        attempt = login_throttle.reserve_attempt(self.store, username, client, _limits(self.settings))
        if not attempt.allowed:
            st.error(_refusal(attempt))
            return None
        if not self.authenticator.authentication_controller.login(username, password):
            log.warning("failed sign-in from %s", client)
            st.session_state["authentication_status"] = None
            st.error("Wrong username or password.")
            return None
        login_throttle.succeeded(self.store, attempt)
        user = _staff_from(self.credentials, username)
        if user is None:
            st.error("This account has no role; ask an admin to set one.")
        return user

    def _start_session(self, user: StaffUser) -> None:
        """Record the session server-side and hand the browser its cookie.

        No st.rerun() here: the cookie is set by a component, which acts only once
        it is rendered, so this run goes on to render the page.
        """
        st.session_state.pop(DROP_COOKIE, None)  # a new sign-in: its cookie stays
        cookies = self.authenticator.cookie_controller
        cookies.set_cookie()
        expires_at = cookies.cookie_model.exp_date
        sessions.record_session(self.store, user.username, expires_at)
        _remember(user, expires_at)
        st.session_state[COOKIE_REPEATS] = 3

    def _repeat_cookie(self, user: StaffUser, expires_at: float) -> None:
        """Hand the browser the same cookie again on the runs right after sign-in.

        The cookie component writes the cookie only if it stays mounted long enough for
        its script to run; a quick rerun after sign-in can unmount it first (seen under
        load), which would cost the user a sign-in at the next reload.
        """
        left = st.session_state.get(COOKIE_REPEATS, 0)
        if left <= 0:
            return
        st.session_state[COOKIE_REPEATS] = left - 1
        model = self.authenticator.cookie_controller.cookie_model
        token = jwt.encode(
            {"username": user.username, "exp_date": expires_at}, model.cookie_key, algorithm="HS256"
        )
        model.cookie_manager.set(
            model.cookie_name, token, key="repeat_auth_cookie", expires_at=datetime.fromtimestamp(expires_at)
        )

    def sign_out(self, user: StaffUser) -> None:
        """End this user's sessions everywhere (every browser, copied cookies included)."""
        sessions.revoke_sessions(self.store, user.username)
        self._forget()
        st.session_state["logout"] = True

    def _forget(self) -> None:
        for key in ("staff", "staff_session_expires", "authentication_status", "username", "name", "roles"):
            st.session_state.pop(key, None)
        st.session_state[DROP_COOKIE] = DROP_REPEATS


def _refusal(attempt: login_throttle.Attempt) -> str:
    wait = (
        max(1, math.ceil((attempt.retry_at - datetime.now(UTC)).total_seconds())) if attempt.retry_at else 1
    )
    if attempt.locked:
        return (
            f"Too many failed sign-ins from here. Try again in {math.ceil(wait / 60)} minute(s), "
            "or ask an admin to unlock."
        )
    return f"Too many failed sign-ins for this account. Wait {wait} second(s) and try again."


def _remember(user: StaffUser, expires_at: float) -> None:
    st.session_state["staff"] = user
    st.session_state["staff_session_expires"] = expires_at
