-- Ops store, version 1, SQLite (WAL mode, several processes on one host).
-- The same tables as 0001_initial.postgresql.sql: change both together.
-- Times are ISO-8601 UTC text ("2026-11-25T17:28:00Z"), written by console/ops/store.py.
-- IF NOT EXISTS: stores made before numbered migrations (by the old schema.sql, which is
-- this file) are taken as version 1, and this script completes one that lacks an index.

-- Every portal link made or refused. Append-only: the triggers below refuse
-- UPDATE and DELETE, so a later outcome (the email went out) is a new row.
-- Never holds a portal URL: the Stripe session id identifies the link.
CREATE TABLE IF NOT EXISTS audit_log (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    at                 TEXT NOT NULL,
    agent              TEXT NOT NULL,
    role               TEXT NOT NULL,
    customer_id        TEXT NOT NULL,
    flow               TEXT NOT NULL,      -- portal | payment_method_update | subscription_cancel | subscription_update | subscription_update_confirm | customer_update
    subscription_id    TEXT,
    price_id           TEXT,
    delivery           TEXT NOT NULL,      -- copy | email
    stripe_session_id  TEXT,
    outcome            TEXT NOT NULL,      -- created | emailed | written | queued | uncertain | failed | refused | retry_sent | retry_failed
    error              TEXT,
    request_key        TEXT                -- idempotency key of the agent's request
);
CREATE INDEX IF NOT EXISTS audit_log_customer ON audit_log (customer_id, at);
CREATE INDEX IF NOT EXISTS audit_log_agent ON audit_log (agent, at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Portal-link requests, one row per agent request: the uniqueness rule that makes
-- a double click or a rerun produce one Stripe session and one email, and the
-- reserved slots that the agent's hourly limit counts.
CREATE TABLE IF NOT EXISTS link_requests (
    request_key        TEXT PRIMARY KEY,
    at                 TEXT NOT NULL,
    agent              TEXT NOT NULL,
    customer_id        TEXT NOT NULL,
    stripe_session_id  TEXT
);
CREATE INDEX IF NOT EXISTS link_requests_agent ON link_requests (agent, at);

-- Email outbox: record, then send, then mark sent.
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_key  TEXT NOT NULL UNIQUE,     -- at most one message per link request
    created_at   TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    sender       TEXT NOT NULL,            -- SMTP envelope sender
    recipient    TEXT NOT NULL,            -- the one SMTP envelope recipient: the email on the Stripe customer
    subject      TEXT NOT NULL,
    message      BLOB NOT NULL,            -- the RFC 5322 message (holds the link: it is the one copy sent to the customer)
    status       TEXT NOT NULL,            -- queued | sending | sent | written (demo outbox folder) | uncertain
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TEXT,
    file_path    TEXT                      -- the .eml file, when written to the outbox folder
);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, id);

-- Staff sign-in attempts, recorded as failures before the password is checked and
-- cleared when it was right (console/ops/login_throttle.py).
CREATE TABLE IF NOT EXISTS login_failures (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    username  TEXT NOT NULL,
    client    TEXT NOT NULL,
    cleared   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS login_failures_user ON login_failures (username, at);
CREATE INDEX IF NOT EXISTS login_failures_client ON login_failures (client, at);

-- Server-side record of staff sessions: a cookie is honoured only while its
-- session row exists, is unexpired and is not revoked.
CREATE TABLE IF NOT EXISTS staff_sessions (
    session_id  TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX IF NOT EXISTS staff_sessions_user ON staff_sessions (username);
