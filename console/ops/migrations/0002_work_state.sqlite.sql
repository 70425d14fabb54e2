-- Ops store, version 2, SQLite: the dunning work queue.
-- The same tables as 0002_work_state.postgresql.sql: change both together.

-- The dunning work queue (console/ops/work_state.py): one row per invoice agents have
-- worked on, keyed by the invoice id so it survives every sync. `version` counts the
-- saves: a save names the version it started from and changes nothing when another
-- agent saved in between (optimistic concurrency: that agent is told, nothing is lost).
-- Resolution is not stored: an invoice that is paid, voided or uncollectible in the
-- warehouse has left the queue, and the queue's history shows its state with the outcome.
CREATE TABLE work_items (
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
CREATE INDEX work_items_assignee ON work_items (assignee);

-- Every saved work-state change, append-only like audit_log: the work queue's own audit
-- trail. A separate table rather than a kind column on audit_log, whose columns and
-- outcomes are those of portal links (and which the link counts read).
CREATE TABLE work_log (
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
CREATE INDEX work_log_invoice ON work_log (invoice_id, id);
CREATE TRIGGER work_log_no_update BEFORE UPDATE ON work_log
BEGIN SELECT RAISE(ABORT, 'work_log is append-only'); END;
CREATE TRIGGER work_log_no_delete BEFORE DELETE ON work_log
BEGIN SELECT RAISE(ABORT, 'work_log is append-only'); END;
