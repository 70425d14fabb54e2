-- Warehouse schema: the public interface between the sync (sole writer) and
-- everything that reads the warehouse (the console, finance's own SQL).
-- Money: integer minor units (BIGINT) beside a lower-case ISO currency code,
-- exactly as Stripe sends it. Times: TIMESTAMP holding UTC (no time zone type,
-- so that every client reads the same wall-clock value).
-- Every column is documented in README.md ("Warehouse schema").

CREATE TABLE IF NOT EXISTS customers (
    id                VARCHAR PRIMARY KEY,   -- cus_...
    email             VARCHAR,
    name              VARCHAR,
    description       VARCHAR,
    created           TIMESTAMP,
    currency          VARCHAR,               -- the customer's billing currency, may be NULL
    delinquent        BOOLEAN NOT NULL DEFAULT FALSE,
    deleted           BOOLEAN NOT NULL DEFAULT FALSE,
    preferred_locales VARCHAR[],
    livemode          BOOLEAN,
    metadata          JSON,
    default_payment_method_id VARCHAR        -- invoice_settings.default_payment_method: what invoices charge
);

CREATE TABLE IF NOT EXISTS products (
    id       VARCHAR PRIMARY KEY,            -- prod_...
    name     VARCHAR,
    active   BOOLEAN,
    created  TIMESTAMP
);

CREATE TABLE IF NOT EXISTS prices (
    id                        VARCHAR PRIMARY KEY,  -- price_...
    product_id                VARCHAR,
    nickname                  VARCHAR,
    currency                  VARCHAR,
    unit_amount               BIGINT,
    recurring_interval        VARCHAR,             -- day | week | month | year, NULL for one-off prices
    recurring_interval_count  INTEGER,
    active                    BOOLEAN,
    created                   TIMESTAMP
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id                    VARCHAR PRIMARY KEY,      -- sub_...
    customer_id           VARCHAR NOT NULL,
    status                VARCHAR NOT NULL,         -- trialing | active | past_due | unpaid | canceled | incomplete | incomplete_expired | paused
    collection_method     VARCHAR,
    currency              VARCHAR,
    created               TIMESTAMP,
    start_date            TIMESTAMP,
    trial_start           TIMESTAMP,
    trial_end             TIMESTAMP,
    cancel_at_period_end  BOOLEAN NOT NULL DEFAULT FALSE,
    cancel_at             TIMESTAMP,
    canceled_at           TIMESTAMP,
    ended_at              TIMESTAMP,
    cancellation_reason   VARCHAR,                  -- cancellation_details.reason: cancellation_requested | payment_failed | payment_disputed | NULL
    latest_invoice_id     VARCHAR,
    default_payment_method_id VARCHAR               -- overrides the customer's default for this subscription
);

CREATE TABLE IF NOT EXISTS subscription_items (
    id                    VARCHAR PRIMARY KEY,      -- si_...
    subscription_id       VARCHAR NOT NULL,
    price_id              VARCHAR,
    quantity              BIGINT,
    current_period_start  TIMESTAMP,
    current_period_end    TIMESTAMP,
    created               TIMESTAMP
);

CREATE TABLE IF NOT EXISTS invoices (
    id                       VARCHAR PRIMARY KEY,   -- in_...
    number                   VARCHAR,
    customer_id              VARCHAR NOT NULL,
    subscription_id          VARCHAR,               -- parent.subscription_details.subscription (older API: invoice.subscription)
    status                   VARCHAR,               -- draft | open | paid | uncollectible | void
    collection_method        VARCHAR,
    billing_reason           VARCHAR,
    currency                 VARCHAR NOT NULL,
    amount_due               BIGINT,
    amount_paid              BIGINT,
    amount_remaining         BIGINT,
    attempt_count            INTEGER,
    next_payment_attempt     TIMESTAMP,
    created                  TIMESTAMP,
    finalized_at             TIMESTAMP,
    paid_at                  TIMESTAMP,
    voided_at                TIMESTAMP,
    marked_uncollectible_at  TIMESTAMP,
    hosted_invoice_url       VARCHAR,
    customer_email           VARCHAR,
    payment_intent_id        VARCHAR,               -- older API shapes only (invoice.payment_intent); see invoice_payments
    charge_id                VARCHAR                -- older API shapes only (invoice.charge)
);

-- Invoice payments (current API): which payment intent (or charge) pays which invoice.
CREATE TABLE IF NOT EXISTS invoice_payments (
    id                 VARCHAR PRIMARY KEY,   -- inpay_...
    invoice_id         VARCHAR,
    payment_intent_id  VARCHAR,               -- payment.payment_intent
    charge_id          VARCHAR,               -- payment.charge (out-of-band charges)
    status             VARCHAR,               -- open | paid | canceled
    amount_requested   BIGINT,
    amount_paid        BIGINT,
    currency           VARCHAR,
    is_default         BOOLEAN,
    created            TIMESTAMP,
    paid_at            TIMESTAMP
);

-- Every charge of the account, invoice-related or not: the raw material of payment_attempts.
CREATE TABLE IF NOT EXISTS charges (
    id                 VARCHAR PRIMARY KEY,   -- ch_...
    invoice_id         VARCHAR,               -- older API shapes only (charge.invoice)
    customer_id        VARCHAR,
    payment_intent_id  VARCHAR,
    created            TIMESTAMP,
    status             VARCHAR,
    amount             BIGINT,
    currency           VARCHAR,
    failure_code       VARCHAR,
    failure_message    VARCHAR,
    decline_code       VARCHAR,
    outcome_type       VARCHAR,
    payment_method_id  VARCHAR,               -- the payment method charged (pm_...)
    card_brand         VARCHAR,               -- payment_method_details.card: the card as it was at this attempt
    card_last4         VARCHAR,
    card_exp_month     INTEGER,
    card_exp_year      INTEGER
);

-- One row per charge attempt on an invoice. In the current API a charge does not
-- name its invoice: invoice_payment links invoice -> payment_intent, and the
-- payment intent's charges are the attempts.
CREATE TABLE IF NOT EXISTS payment_attempts (
    id                 VARCHAR PRIMARY KEY,   -- ch_...
    invoice_id         VARCHAR,
    customer_id        VARCHAR,
    payment_intent_id  VARCHAR,
    created            TIMESTAMP,
    status             VARCHAR,               -- succeeded | failed | pending
    amount             BIGINT,
    currency           VARCHAR,
    failure_code       VARCHAR,               -- e.g. card_declined, expired_card
    failure_message    VARCHAR,
    decline_code       VARCHAR,               -- outcome.reason / network decline: insufficient_funds, do_not_honor, ...
    outcome_type       VARCHAR,                -- authorized | issuer_declined | blocked | invalid
    payment_method_id  VARCHAR,               -- the payment method charged (pm_...)
    card_brand         VARCHAR,               -- payment_method_details.card: the card as it was at this attempt
    card_last4         VARCHAR,
    card_exp_month     INTEGER,
    card_exp_year      INTEGER
);

-- Payment methods of customers: every default (customer's, subscription's) and every method
-- an event in the last 30 days touched. Detached ones stay, with their last customer.
CREATE TABLE IF NOT EXISTS payment_methods (
    id              VARCHAR PRIMARY KEY,      -- pm_...
    customer_id     VARCHAR,                  -- attached to; the last one when detached
    type            VARCHAR,                  -- card | sepa_debit | ...
    card_brand      VARCHAR,                  -- visa | mastercard | amex | ...; NULL for non-card methods
    card_last4      VARCHAR,
    card_exp_month  INTEGER,
    card_exp_year   INTEGER,
    card_funding    VARCHAR,                  -- credit | debit | prepaid | unknown
    card_country    VARCHAR,                  -- issuing country, ISO 3166-1 alpha-2
    wallet          VARCHAR,                  -- card.wallet.type: apple_pay | google_pay | link | ...; NULL for a plain card
    created         TIMESTAMP,
    detached        BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE IF NOT EXISTS sync_runs (
    id           BIGINT PRIMARY KEY,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    mode         VARCHAR NOT NULL,            -- full | incremental
    status       VARCHAR NOT NULL,            -- succeeded | failed | interrupted
    objects      JSON,                        -- {"customers": 120, ...} objects written per table
    events       BIGINT,                      -- events read (incremental runs)
    requests     BIGINT,                      -- HTTP requests made to Stripe
    error        VARCHAR                      -- one-line reason when status is not succeeded
);

-- The ids a run wrote or removed, per table: the next run brings the standby (the file
-- this one replaced) up to date by copying just these rows (sync/publish.py).
CREATE TABLE IF NOT EXISTS snapshot_changes (
    table_name  VARCHAR NOT NULL,
    id          VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS sync_state (
    name        VARCHAR PRIMARY KEY,          -- e.g. events_cursor
    value       VARCHAR,
    updated_at  TIMESTAMP
);

-- Indexes for the console's per-customer reads (customer page, search by id or number).
-- DuckDB uses an ART index for a selective equality filter; without one each lookup
-- scans the whole table (about 200 ms on 10 million invoices instead of a few ms).
CREATE INDEX IF NOT EXISTS invoices_customer ON invoices (customer_id);
CREATE INDEX IF NOT EXISTS invoices_number ON invoices (number);
CREATE INDEX IF NOT EXISTS subscriptions_customer ON subscriptions (customer_id);
CREATE INDEX IF NOT EXISTS subscription_items_subscription ON subscription_items (subscription_id);
CREATE INDEX IF NOT EXISTS payment_attempts_invoice ON payment_attempts (invoice_id);
CREATE INDEX IF NOT EXISTS payment_methods_customer ON payment_methods (customer_id);
