-- The paas store on SQLite.
--
-- Timestamps are integer nanoseconds since the Unix epoch (UTC), so records round-trip
-- exactly. Ids are 16-byte blobs (sqlx's encoding of a uuid; byte order is the uuid's order).
-- Nested parts of a record are JSON text. Every uniqueness and referential rule the Store
-- port promises is a constraint here, not only in code (foreign keys are enforced: the store
-- turns `PRAGMA foreign_keys` on for every connection).

CREATE TABLE orgs (
    id            BLOB    PRIMARY KEY NOT NULL,
    name          TEXT    NOT NULL,
    slug          TEXT    NOT NULL CONSTRAINT orgs_slug_unique UNIQUE,
    created_at_ns INTEGER NOT NULL
);

CREATE TABLE plans (
    id                    BLOB    PRIMARY KEY NOT NULL,
    name                  TEXT    NOT NULL CONSTRAINT plans_name_unique UNIQUE,
    cpu                   INTEGER NOT NULL CHECK (cpu >= 0),
    memory_mb             INTEGER NOT NULL CHECK (memory_mb >= 0),
    disk_gb               INTEGER NOT NULL CHECK (disk_gb >= 0),
    price_per_hour_micros INTEGER NOT NULL,
    max_replicas          INTEGER NOT NULL CHECK (max_replicas >= 0)
);

CREATE TABLE apps (
    id              BLOB    PRIMARY KEY NOT NULL,
    org             BLOB    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    slug            TEXT    NOT NULL,
    runtime         TEXT    NOT NULL,
    plan            BLOB    NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    replicas        INTEGER NOT NULL CHECK (replicas >= 0),
    env             TEXT    NOT NULL,
    domains         TEXT    NOT NULL,
    health_check    TEXT    NOT NULL,
    listen_port     INTEGER CHECK (listen_port BETWEEN 1 AND 65535),
    status          TEXT    NOT NULL CHECK (status IN ('created', 'deploying', 'running', 'stopped',
                                   'failed', 'suspended', 'lost', 'deleting', 'deleted')),
    status_reason   TEXT,
    placement       TEXT    NOT NULL,
    ports           TEXT    NOT NULL,
    current_release INTEGER CHECK (current_release >= 0),
    created_at_ns   INTEGER NOT NULL,
    updated_at_ns   INTEGER NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 0)
);
CREATE UNIQUE INDEX apps_slug_live ON apps (slug) WHERE status <> 'deleted';
CREATE INDEX apps_org_status_id ON apps (org, status, id);
CREATE INDEX apps_org_id ON apps (org, id);
CREATE INDEX apps_status_id ON apps (status, id);
CREATE INDEX apps_plan ON apps (plan);

CREATE TABLE releases (
    id            BLOB    PRIMARY KEY NOT NULL,
    org           BLOB    NOT NULL,
    app           BLOB    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL CHECK (number >= 0),
    runtime       TEXT    NOT NULL,
    env_digest    TEXT    NOT NULL,
    replicas      INTEGER NOT NULL CHECK (replicas >= 0),
    plan          BLOB    NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    created_at_ns INTEGER NOT NULL,
    CONSTRAINT releases_app_number_unique UNIQUE (app, number)
);
CREATE INDEX releases_plan ON releases (plan);

CREATE TABLE operations (
    -- Enqueue order: per app, operations run one at a time in this order.
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               BLOB    NOT NULL CONSTRAINT operations_id_unique UNIQUE,
    org              BLOB    NOT NULL,
    app              BLOB    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    checkpoint       TEXT    NOT NULL,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    error            TEXT,
    not_before_ns    INTEGER NOT NULL,
    lease_worker     TEXT,
    lease_expires_ns INTEGER,
    created_at_ns    INTEGER NOT NULL,
    updated_at_ns    INTEGER NOT NULL,
    finished_at_ns   INTEGER
);
CREATE UNIQUE INDEX operations_one_running_per_app ON operations (app) WHERE state = 'running';
CREATE INDEX operations_unfinished_app_seq ON operations (app, seq)
    WHERE state IN ('queued', 'running');
CREATE INDEX operations_due ON operations (not_before_ns, seq) WHERE state IN ('queued', 'running');
CREATE INDEX operations_app_seq ON operations (app, seq);

CREATE TABLE events (
    app       BLOB    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL CHECK (seq >= 1),
    org       BLOB    NOT NULL,
    operation BLOB,
    at_ns     INTEGER NOT NULL,
    level     TEXT    NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    step      TEXT    NOT NULL,
    message   TEXT    NOT NULL,
    PRIMARY KEY (app, seq)
);

CREATE TABLE usage_records (
    org           BLOB    NOT NULL,
    app           BLOB    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    hour_ns       INTEGER NOT NULL,
    replicas      INTEGER NOT NULL CHECK (replicas >= 0),
    amount_micros INTEGER NOT NULL,
    transfer_id   TEXT    NOT NULL,
    PRIMARY KEY (app, hour_ns)
);
CREATE INDEX usage_records_org_hour_app ON usage_records (org, hour_ns, app);

-- Invariant: every value in [range_first, low_water) is allocated.
CREATE TABLE id_pools (
    pool        TEXT    PRIMARY KEY NOT NULL,
    range_first INTEGER NOT NULL,
    low_water   INTEGER NOT NULL
);

CREATE TABLE id_allocations (
    pool            TEXT    NOT NULL,
    value           INTEGER NOT NULL,
    owner           TEXT    NOT NULL,
    allocated_at_ns INTEGER NOT NULL,
    PRIMARY KEY (pool, value),
    CONSTRAINT id_allocations_pool_owner_unique UNIQUE (pool, owner)
);
CREATE INDEX id_allocations_owner ON id_allocations (owner);
