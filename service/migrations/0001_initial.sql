-- 0001: the foundation — rooms, households, residents, contacts, staff, API tokens, events.
-- Times are TEXT in UTC, fixed width 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so they sort as text.

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    capacity    INTEGER NOT NULL CHECK (capacity >= 0),
    location    TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL
);

CREATE TABLE households (
    id          INTEGER PRIMARY KEY,
    unit        TEXT    NOT NULL UNIQUE CHECK (length(trim(unit)) > 0),  -- e.g. 3-2-1501
    building    TEXT    NOT NULL DEFAULT '',
    notes       TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE TABLE residents (
    id            INTEGER PRIMARY KEY,
    household_id  INTEGER NOT NULL REFERENCES households(id) ON DELETE RESTRICT,
    name          TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    language      TEXT    NOT NULL CHECK (language IN ('zh-CN', 'en')),
    notes         TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    -- (unit, name) is how a CSV row finds its resident again, so re-imports are idempotent.
    UNIQUE (household_id, name)
);
CREATE INDEX residents_name ON residents(name);

CREATE TABLE resident_tags (
    resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    tag          TEXT    NOT NULL,
    PRIMARY KEY (resident_id, tag)
) WITHOUT ROWID;
CREATE INDEX resident_tags_by_tag ON resident_tags(tag, resident_id);

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    resident_id   INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    channel       TEXT    NOT NULL CHECK (channel IN ('sms', 'email', 'telegram', 'webhook')),
    address       TEXT    NOT NULL,   -- canonical: E.164, lowercased email, chat id, URL
    rank          INTEGER NOT NULL,   -- the resident's preference order, 0 first
    opted_out_at  TEXT,               -- NULL while the address may be used
    created_at    TEXT    NOT NULL,
    UNIQUE (resident_id, channel, address)
);
CREATE INDEX contacts_by_address ON contacts(channel, address);
CREATE INDEX contacts_by_resident ON contacts(resident_id, rank);

CREATE TABLE staff (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'organiser')),
    created_at  TEXT    NOT NULL
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'organiser', 'door')),
    staff_id      INTEGER REFERENCES staff(id) ON DELETE CASCADE,
    room_id       INTEGER REFERENCES rooms(id) ON DELETE CASCADE,
    token_hash    TEXT    NOT NULL UNIQUE,  -- SHA-256 of the token; the token itself is never stored
    hint          TEXT    NOT NULL,         -- the token's first characters, to tell tokens apart
    created_at    TEXT    NOT NULL,
    expires_at    TEXT,
    last_used_at  TEXT,
    revoked_at    TEXT,
    CHECK ((role = 'door') = (room_id IS NOT NULL)),
    CHECK ((role = 'door') = (staff_id IS NULL))
);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL
                    CHECK (kind IN ('flea_market', 'meeting', 'volunteer', 'activity', 'other')),
    title           TEXT    NOT NULL CHECK (length(trim(title)) > 0),
    description     TEXT    NOT NULL DEFAULT '',
    location        TEXT    NOT NULL DEFAULT '',
    room_id         INTEGER REFERENCES rooms(id) ON DELETE RESTRICT,
    starts_at       TEXT    NOT NULL,
    ends_at         TEXT    NOT NULL,
    capacity        INTEGER CHECK (capacity IS NULL OR capacity >= 0),  -- people; NULL: no limit
    max_party_size  INTEGER NOT NULL DEFAULT 1 CHECK (max_party_size >= 1),
    rsvp_deadline   TEXT,
    status          TEXT    NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'published', 'cancelled', 'finished')),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    published_at    TEXT,
    cancelled_at    TEXT,
    CHECK (ends_at > starts_at),
    CHECK (rsvp_deadline IS NULL OR rsvp_deadline <= starts_at)
);
CREATE INDEX events_by_start ON events(starts_at);
CREATE INDEX events_by_status ON events(status, starts_at);

-- The audience: residents having any of these tags; no row means everyone.
CREATE TABLE event_audience_tags (
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    tag       TEXT    NOT NULL,
    PRIMARY KEY (event_id, tag)
) WITHOUT ROWID;
