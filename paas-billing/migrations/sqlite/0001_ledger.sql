-- The ledger: accounts with their posted totals, and immutable transfers.
-- Ids are 128-bit, stored as blob (16 bytes, compared as big-endian integers).
-- Amounts and totals are micro-units. Times are seconds + nanoseconds since the epoch so that a
-- transfer reads back exactly as it was posted.

CREATE TABLE IF NOT EXISTS ledger_accounts (
    id                              blob PRIMARY KEY,
    code                            integer NOT NULL,
    debits_must_not_exceed_credits  integer NOT NULL,
    credit_limit                    integer NOT NULL,
    debits_posted                   integer NOT NULL DEFAULT 0,
    credits_posted                  integer NOT NULL DEFAULT 0,
    created_at                      text NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS ledger_transfers (
    id              blob PRIMARY KEY,
    debit_account   blob NOT NULL REFERENCES ledger_accounts (id),
    credit_account  blob NOT NULL REFERENCES ledger_accounts (id),
    amount          integer NOT NULL CHECK (amount > 0),
    code            integer NOT NULL,
    memo            text NOT NULL,
    at_secs         integer NOT NULL,
    at_nanos        integer NOT NULL,
    linked          integer NOT NULL
);

CREATE INDEX IF NOT EXISTS ledger_transfers_by_debit
    ON ledger_transfers (debit_account, at_secs, at_nanos, id);
CREATE INDEX IF NOT EXISTS ledger_transfers_by_credit
    ON ledger_transfers (credit_account, at_secs, at_nanos, id);
