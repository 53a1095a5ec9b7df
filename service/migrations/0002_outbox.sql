-- [M2] Invitations, the durable outbox, delivery attempts, per-event template overrides,
-- and webhook signing secrets on contacts.

-- A webhook contact's Standard Webhooks secrets (whsec_…). They must be readable to sign,
-- so they cannot be hashed; during a rotation the previous one signs too until it lapses.
ALTER TABLE contacts ADD COLUMN signing_secret TEXT;
ALTER TABLE contacts ADD COLUMN previous_secret TEXT;
ALTER TABLE contacts ADD COLUMN previous_secret_until TEXT;
-- Set when the far end said the address is gone for good (webhook 410, bot blocked).
ALTER TABLE contacts ADD COLUMN disabled_at TEXT;
ALTER TABLE contacts ADD COLUMN disabled_reason TEXT;

-- iCalendar SEQUENCE of the event's invitation; raised when its time or place changes.
ALTER TABLE events ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;

CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    answer       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (answer IN ('pending', 'yes', 'no', 'maybe', 'waitlisted')),
    party_size   INTEGER NOT NULL DEFAULT 1 CHECK (party_size >= 1),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    -- One invitation per resident and event: sending an event twice invites nobody twice.
    UNIQUE (event_id, resident_id)
);
CREATE INDEX invitations_by_resident ON invitations(resident_id, created_at);

CREATE TABLE event_templates (
    event_id    INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    language    TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (event_id, kind, channel, language)
) WITHOUT ROWID;

CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    uid            TEXT    NOT NULL UNIQUE,   -- the id every attempt carries (Message-ID, webhook-id)
    group_uid      TEXT    NOT NULL,          -- shared by a message and its channel fallbacks
    event_id       INTEGER REFERENCES events(id) ON DELETE CASCADE,
    invitation_id  INTEGER REFERENCES invitations(id) ON DELETE SET NULL,
    resident_id    INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    contact_id     INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    kind           TEXT    NOT NULL,
    channel        TEXT    NOT NULL CHECK (channel IN ('sms', 'email', 'telegram', 'webhook')),
    address        TEXT    NOT NULL,
    language       TEXT    NOT NULL,
    subject        TEXT    NOT NULL DEFAULT '',
    body_text      TEXT    NOT NULL,
    body_html      TEXT,
    extra          TEXT    NOT NULL DEFAULT '{}',  -- JSON: ics, buttons, payload, links
    note           TEXT    NOT NULL DEFAULT '',
    urgent         INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1)),
    status         TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed',
                                     'suppressed', 'expired')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    send_after     TEXT    NOT NULL,
    expires_at     TEXT,
    lease_until    TEXT,
    provider_id    TEXT,
    last_error     TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    CHECK ((status = 'sending') = (lease_until IS NOT NULL))
);
-- The worker's two questions: what is due on this channel, and whose lease has lapsed.
CREATE INDEX messages_due ON messages(channel, send_after) WHERE status = 'queued';
CREATE INDEX messages_leased ON messages(lease_until) WHERE status = 'sending';
CREATE INDEX messages_by_event ON messages(event_id, status, channel);
CREATE INDEX messages_by_group ON messages(group_uid);
CREATE INDEX messages_by_provider ON messages(channel, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_by_created ON messages(created_at);

CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    at           TEXT    NOT NULL,
    duration_ms  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL
                 CHECK (outcome IN ('sent', 'delivered', 'temporary', 'permanent')),
    provider_id  TEXT,
    error        TEXT
);
CREATE INDEX attempts_by_message ON attempts(message_id, number);

-- When each worker last looked at the outbox, so the console can warn when none runs.
CREATE TABLE worker_beats (
    name     TEXT PRIMARY KEY,
    beat_at  TEXT NOT NULL
) WITHOUT ROWID;
