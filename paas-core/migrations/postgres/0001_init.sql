-- The paas store on PostgreSQL.
--
-- Timestamps are bigint nanoseconds since the Unix epoch (UTC): records round-trip exactly
-- (timestamptz keeps only microseconds). Ids are uuid. Nested parts of a record (runtime, env,
-- domains, placement, checkpoint, operation kind) are jsonb. Every uniqueness and referential
-- rule the Store port promises is a constraint here, not only in code.

CREATE TABLE orgs (
    id            uuid PRIMARY KEY,
    name          text   NOT NULL,
    slug          text   NOT NULL CONSTRAINT orgs_slug_unique UNIQUE,
    created_at_ns bigint NOT NULL
);

CREATE TABLE plans (
    id                    uuid   PRIMARY KEY,
    name                  text   NOT NULL CONSTRAINT plans_name_unique UNIQUE,
    cpu                   bigint NOT NULL CHECK (cpu >= 0),
    memory_mb             bigint NOT NULL CHECK (memory_mb >= 0),
    disk_gb               bigint NOT NULL CHECK (disk_gb >= 0),
    price_per_hour_micros bigint NOT NULL,
    max_replicas          bigint NOT NULL CHECK (max_replicas >= 0)
);

CREATE TABLE apps (
    id              uuid   PRIMARY KEY,
    org             uuid   NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            text   NOT NULL,
    slug            text   NOT NULL,
    runtime         jsonb  NOT NULL,
    plan            uuid   NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    replicas        bigint NOT NULL CHECK (replicas >= 0),
    env             jsonb  NOT NULL,
    domains         jsonb  NOT NULL,
    health_check    jsonb  NOT NULL,
    listen_port     bigint CHECK (listen_port BETWEEN 1 AND 65535),
    status          text   NOT NULL CHECK (status IN ('created', 'deploying', 'running', 'stopped',
                                   'failed', 'suspended', 'lost', 'deleting', 'deleted')),
    status_reason   text,
    placement       jsonb  NOT NULL,
    ports           jsonb  NOT NULL,
    current_release bigint CHECK (current_release >= 0),
    created_at_ns   bigint NOT NULL,
    updated_at_ns   bigint NOT NULL,
    version         bigint NOT NULL CHECK (version >= 0),
    -- Last event seq handed out for this app: append_event bumps it in the same statement that
    -- inserts the event, so seqs are gap-free under any concurrency (the row lock serialises).
    last_event_seq  bigint NOT NULL DEFAULT 0
);
-- A slug is unique among apps not deleted (a deleted app's slug can be reused).
CREATE UNIQUE INDEX apps_slug_live ON apps (slug) WHERE status <> 'deleted';
-- list_apps(org, status?) in id order, and count_apps(org).
CREATE INDEX apps_org_status_id ON apps (org, status, id);
CREATE INDEX apps_org_id ON apps (org, id);
-- list_apps_all(status?) in id order.
CREATE INDEX apps_status_id ON apps (status, id);
-- The foreign key to plans (ON DELETE RESTRICT checks it).
CREATE INDEX apps_plan ON apps (plan);

CREATE TABLE releases (
    id            uuid   PRIMARY KEY,
    org           uuid   NOT NULL,
    app           uuid   NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    number        bigint NOT NULL CHECK (number >= 0),
    runtime       jsonb  NOT NULL,
    env_digest    text   NOT NULL,
    replicas      bigint NOT NULL CHECK (replicas >= 0),
    plan          uuid   NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    created_at_ns bigint NOT NULL,
    CONSTRAINT releases_app_number_unique UNIQUE (app, number)
);
CREATE INDEX releases_plan ON releases (plan);

CREATE TABLE operations (
    id               uuid      PRIMARY KEY,
    -- Enqueue order: per app, operations run one at a time in this order.
    seq              bigserial NOT NULL CONSTRAINT operations_seq_unique UNIQUE,
    org              uuid      NOT NULL,
    app              uuid      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    kind             jsonb     NOT NULL,
    state            text      NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    checkpoint       jsonb     NOT NULL,
    attempts         bigint    NOT NULL CHECK (attempts >= 0),
    error            text,
    not_before_ns    bigint    NOT NULL,
    lease_worker     text,
    lease_expires_ns bigint,
    created_at_ns    bigint    NOT NULL,
    updated_at_ns    bigint    NOT NULL,
    finished_at_ns   bigint
);
-- At most one running operation per app.
CREATE UNIQUE INDEX operations_one_running_per_app ON operations (app) WHERE state = 'running';
-- "Is there an older unfinished operation of this app?" (only the oldest can be leased).
CREATE INDEX operations_unfinished_app_seq ON operations (app, seq)
    WHERE state IN ('queued', 'running');
-- Due operations, oldest first.
CREATE INDEX operations_due ON operations (not_before_ns, seq) WHERE state IN ('queued', 'running');
-- list_operations(org, app): newest first.
CREATE INDEX operations_app_seq ON operations (app, seq);

CREATE TABLE events (
    app       uuid   NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    seq       bigint NOT NULL CHECK (seq >= 1),
    org       uuid   NOT NULL,
    operation uuid,
    at_ns     bigint NOT NULL,
    level     text   NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    step      text   NOT NULL,
    message   text   NOT NULL,
    PRIMARY KEY (app, seq)
);

CREATE TABLE usage_records (
    org           uuid   NOT NULL,
    app           uuid   NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    hour_ns       bigint NOT NULL,
    replicas      bigint NOT NULL CHECK (replicas >= 0),
    amount_micros bigint NOT NULL,
    transfer_id   text   NOT NULL,
    PRIMARY KEY (app, hour_ns)
);
-- list_usage(org, from, to) by hour then app.
CREATE INDEX usage_records_org_hour_app ON usage_records (org, hour_ns, app);

-- Id pools: one row per pool, locked by every allocation (allocations of one pool are
-- serialised; different pools do not contend). Invariant: every value in
-- [range_first, low_water) is allocated, so the search for the lowest free value starts there.
CREATE TABLE id_pools (
    pool        text   PRIMARY KEY,
    range_first bigint NOT NULL,
    low_water   bigint NOT NULL
);

CREATE TABLE id_allocations (
    pool            text   NOT NULL,
    value           bigint NOT NULL,
    owner           text   NOT NULL,
    allocated_at_ns bigint NOT NULL,
    PRIMARY KEY (pool, value),
    CONSTRAINT id_allocations_pool_owner_unique UNIQUE (pool, owner)
);
CREATE INDEX id_allocations_owner ON id_allocations (owner);

-- Allocates the lowest free value >= p_first (and <= p_last, not in p_avoid) of a pool for
-- p_owner, or returns the value p_owner already holds. NULL when the pool is full.
--
-- One round trip, and the pool row's lock is held only while this runs and commits. Each
-- statement of a plpgsql function takes a fresh snapshot (READ COMMITTED), so after the lock
-- is granted the search sees every allocation committed by the previous holder.
CREATE FUNCTION paas_allocate_id(p_pool text, p_owner text, p_first bigint, p_last bigint,
                                 p_avoid bigint[], p_now_ns bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_range_first bigint;
    v_low         bigint;
    v_start       bigint;
    v_candidate   bigint;
    v_skipped     boolean := false;
BEGIN
    INSERT INTO id_pools (pool, range_first, low_water) VALUES (p_pool, p_first, p_first)
        ON CONFLICT (pool) DO NOTHING;
    SELECT range_first, low_water INTO v_range_first, v_low
        FROM id_pools WHERE pool = p_pool FOR UPDATE;

    SELECT value INTO v_candidate FROM id_allocations WHERE pool = p_pool AND owner = p_owner;
    IF FOUND THEN
        RETURN v_candidate;
    END IF;

    -- The configured range changed: the low-water mark no longer applies.
    IF v_range_first <> p_first THEN
        v_low := p_first;
    END IF;
    v_start := greatest(v_low, p_first);

    LOOP
        IF v_start > p_last THEN
            RETURN NULL;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM id_allocations WHERE pool = p_pool AND value = v_start) THEN
            v_candidate := v_start;
        ELSE
            -- The first gap after v_start: one past the first allocated value whose successor
            -- is not allocated (an index scan that stops at the gap).
            SELECT g.value + 1 INTO v_candidate
            FROM (SELECT value, lead(value) OVER (ORDER BY value) AS next_value
                  FROM id_allocations WHERE pool = p_pool AND value >= v_start) g
            WHERE g.next_value IS NULL OR g.next_value <> g.value + 1
            ORDER BY g.value
            LIMIT 1;
        END IF;
        IF v_candidate > p_last THEN
            RETURN NULL;
        END IF;
        EXIT WHEN NOT (v_candidate = ANY (p_avoid));
        v_skipped := true;
        v_start := v_candidate + 1;
    END LOOP;

    INSERT INTO id_allocations (pool, value, owner, allocated_at_ns)
        VALUES (p_pool, v_candidate, p_owner, p_now_ns);
    -- Without skipped values, everything below the candidate is now allocated.
    UPDATE id_pools
        SET range_first = p_first,
            low_water = CASE WHEN v_skipped THEN v_low ELSE v_candidate + 1 END
        WHERE pool = p_pool;
    RETURN v_candidate;
END;
$$;
