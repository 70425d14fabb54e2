-- Ops store: the console's own writes (SQLite, WAL mode, several processes).
-- Times are ISO-8601 UTC text ("2026-11-25T17:28:00Z"), written by console/ops/store.py.

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

-- The dunning work queue (console/ops/work_state.py): one row per invoice agents have
-- worked on, keyed by the invoice id so it survives every sync. `version` counts the
-- saves: a save names the version it started from and changes nothing when another
-- agent saved in between (optimistic concurrency: that agent is told, nothing is lost).
-- Resolution is not stored: an invoice that is paid, voided or uncollectible in the
-- warehouse has left the queue, and the queue's history shows its state with the outcome.
CREATE TABLE IF NOT EXISTS work_items (
    invoice_id     TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL,
    assignee       TEXT,                   -- staff username; NULL: unassigned
    status         TEXT NOT NULL,          -- new | contacted | waiting_on_customer | snoozed | done
    snoozed_until  TEXT,                   -- YYYY-MM-DD (UTC day) while snoozed
    note           TEXT NOT NULL DEFAULT '',
    version        INTEGER NOT NULL,
    updated_by     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS work_items_assignee ON work_items (assignee);

-- Every saved work-state change, append-only like audit_log: the work queue's own audit
-- trail. A separate table rather than a kind column on audit_log, whose columns and
-- outcomes are those of portal links (and which the link counts read).
CREATE TABLE IF NOT EXISTS work_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT NOT NULL,
    agent          TEXT NOT NULL,
    invoice_id     TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    version        INTEGER NOT NULL,       -- the work item's version this change made
    assignee       TEXT,
    status         TEXT NOT NULL,
    snoozed_until  TEXT,
    note           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS work_log_invoice ON work_log (invoice_id, id);
CREATE TRIGGER IF NOT EXISTS work_log_no_update BEFORE UPDATE ON work_log
BEGIN SELECT RAISE(ABORT, 'work_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS work_log_no_delete BEFORE DELETE ON work_log
BEGIN SELECT RAISE(ABORT, 'work_log is append-only'); END;
