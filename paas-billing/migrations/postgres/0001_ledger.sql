-- The ledger: accounts with their posted totals, and immutable transfers.
-- Ids are 128-bit, stored as uuid (16 bytes, compared as big-endian integers).
-- Amounts and totals are micro-units. Times are seconds + nanoseconds since the epoch so that a
-- transfer reads back exactly as it was posted.

CREATE TABLE IF NOT EXISTS ledger_accounts (
    id                              uuid PRIMARY KEY,
    code                            integer NOT NULL,
    debits_must_not_exceed_credits  boolean NOT NULL,
    credit_limit                    bigint NOT NULL,
    debits_posted                   bigint NOT NULL DEFAULT 0,
    credits_posted                  bigint NOT NULL DEFAULT 0,
    created_at                      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ledger_transfers (
    id              uuid PRIMARY KEY,
    debit_account   uuid NOT NULL REFERENCES ledger_accounts (id),
    credit_account  uuid NOT NULL REFERENCES ledger_accounts (id),
    amount          bigint NOT NULL CHECK (amount > 0),
    code            integer NOT NULL,
    memo            text NOT NULL,
    at_secs         bigint NOT NULL,
    at_nanos        integer NOT NULL,
    linked          boolean NOT NULL
);

CREATE INDEX IF NOT EXISTS ledger_transfers_by_debit
    ON ledger_transfers (debit_account, at_secs, at_nanos, id);
CREATE INDEX IF NOT EXISTS ledger_transfers_by_credit
    ON ledger_transfers (credit_account, at_secs, at_nanos, id);
