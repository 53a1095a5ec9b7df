-- [M4] The activity room's rules, its bookings, check-in codes, check-ins and no-shows.

-- The room's rules, written by its residents and kept by organisers. NULL: no limit.
ALTER TABLE rooms ADD COLUMN max_booking_minutes INTEGER CHECK (max_booking_minutes > 0);
ALTER TABLE rooms ADD COLUMN min_notice_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (min_notice_minutes >= 0);
ALTER TABLE rooms ADD COLUMN max_days_ahead INTEGER CHECK (max_days_ahead > 0);
ALTER TABLE rooms ADD COLUMN max_per_household_week INTEGER
    CHECK (max_per_household_week > 0);
ALTER TABLE rooms ADD COLUMN buffer_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (buffer_minutes >= 0);
ALTER TABLE rooms ADD COLUMN needs_approval INTEGER NOT NULL DEFAULT 0
    CHECK (needs_approval IN (0, 1));
-- Opening hours per weekday in the community's time zone, JSON:
-- {"mon": [["08:00", "21:00"]], ..., "sun": []}; a missing day is closed. '{}' (the
-- default for rooms made before [M4]) means open all day every day.
ALTER TABLE rooms ADD COLUMN opening_hours TEXT NOT NULL DEFAULT '{}';
-- Bumped by the triggers below whenever the room's bookings or check-ins change, so a
-- door tablet's live feed (in any process) sees a change by polling one number.
ALTER TABLE rooms ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Days the room is shut (holidays, repairs), as local dates YYYY-MM-DD.
CREATE TABLE room_closed_dates (
    room_id  INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    day      TEXT    NOT NULL,
    reason   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (room_id, day)
) WITHOUT ROWID;

-- A slot of a room: a resident's (or household's) booking, an organiser's, or the room
-- an event is held in (event_id set; events reserve their room).
CREATE TABLE bookings (
    id            INTEGER PRIMARY KEY,
    room_id       INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    resident_id   INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    household_id  INTEGER REFERENCES households(id) ON DELETE SET NULL,
    event_id      INTEGER UNIQUE REFERENCES events(id) ON DELETE CASCADE,
    series_id     INTEGER,          -- the first booking's id, shared by a weekly series
    title         TEXT    NOT NULL DEFAULT '',
    party_size    INTEGER NOT NULL DEFAULT 1 CHECK (party_size >= 1),
    starts_at     TEXT    NOT NULL,
    ends_at       TEXT    NOT NULL,
    -- ends_at plus the room's buffer when booked: nothing else may start before it.
    blocked_until TEXT    NOT NULL,
    status        TEXT    NOT NULL
                  CHECK (status IN ('pending', 'confirmed', 'declined', 'cancelled')),
    booked_by     TEXT    NOT NULL,  -- 'resident' or 'organiser:<name>'
    note          TEXT    NOT NULL DEFAULT '',
    -- The resident page's form nonce (or an API client's key): a repeated submission
    -- finds the booking it made instead of making another.
    request_key   TEXT    UNIQUE,
    decided_by    TEXT,
    decided_at    TEXT,
    cancelled_at  TEXT,
    no_show_at    TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK (blocked_until >= ends_at)
);
CREATE INDEX bookings_by_room ON bookings(room_id, starts_at);
CREATE INDEX bookings_by_household ON bookings(household_id, starts_at);
CREATE INDEX bookings_by_series ON bookings(series_id);

-- Overlaps, buffer included, are refused by the store itself: whatever path writes a
-- booking, two live ones of a room never share a minute. A pending booking (awaiting an
-- organiser's approval) holds its slot too.
CREATE TRIGGER bookings_no_overlap_insert
BEFORE INSERT ON bookings
WHEN NEW.status IN ('pending', 'confirmed')
BEGIN
    SELECT RAISE(ABORT, 'booking_overlap')
    WHERE EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.room_id = NEW.room_id
          AND b.status IN ('pending', 'confirmed')
          AND b.starts_at < NEW.blocked_until
          AND NEW.starts_at < b.blocked_until
    );
END;

CREATE TRIGGER bookings_no_overlap_update
BEFORE UPDATE OF room_id, starts_at, ends_at, blocked_until, status ON bookings
WHEN NEW.status IN ('pending', 'confirmed')
BEGIN
    SELECT RAISE(ABORT, 'booking_overlap')
    WHERE EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.room_id = NEW.room_id
          AND b.id != NEW.id
          AND b.status IN ('pending', 'confirmed')
          AND b.starts_at < NEW.blocked_until
          AND NEW.starts_at < b.blocked_until
    );
END;

-- The short code shown at the door (6 characters without look-alikes, also as a QR):
-- one per yes invitation and per booking, in one namespace.
CREATE TABLE checkin_codes (
    code           TEXT PRIMARY KEY,
    invitation_id  INTEGER UNIQUE REFERENCES invitations(id) ON DELETE CASCADE,
    booking_id     INTEGER UNIQUE REFERENCES bookings(id) ON DELETE CASCADE,
    created_at     TEXT NOT NULL,
    CHECK ((invitation_id IS NULL) != (booking_id IS NULL))
) WITHOUT ROWID;

-- Who came: one row per code (checking in twice adds nothing), or a walk-in (no code).
CREATE TABLE checkins (
    id          INTEGER PRIMARY KEY,
    code        TEXT    UNIQUE REFERENCES checkin_codes(code) ON DELETE CASCADE,
    room_id     INTEGER REFERENCES rooms(id) ON DELETE CASCADE,
    event_id    INTEGER REFERENCES events(id) ON DELETE CASCADE,
    booking_id  INTEGER REFERENCES bookings(id) ON DELETE CASCADE,
    party_size  INTEGER NOT NULL CHECK (party_size >= 0),
    walk_ins    INTEGER NOT NULL DEFAULT 0 CHECK (walk_ins >= 0),
    via         TEXT    NOT NULL CHECK (via IN ('tablet', 'api', 'organiser')),
    device      TEXT    NOT NULL DEFAULT '',   -- the token's name that checked in
    nonce       TEXT    UNIQUE,                -- an offline tablet's retry sends it again
    at          TEXT    NOT NULL,
    CHECK (code IS NOT NULL OR walk_ins > 0)
);
CREATE INDEX checkins_by_event ON checkins(event_id, at);
CREATE INDEX checkins_by_booking ON checkins(booking_id);
CREATE INDEX checkins_by_room ON checkins(room_id, at);

-- Confirmed parties of a finished event that never checked in.
ALTER TABLE invitations ADD COLUMN no_show_at TEXT;

-- Booking messages (confirmation, reminder, cancellation) name their booking.
ALTER TABLE messages ADD COLUMN booking_id INTEGER REFERENCES bookings(id) ON DELETE SET NULL;

CREATE TRIGGER rooms_version_booking_insert AFTER INSERT ON bookings
BEGIN
    UPDATE rooms SET version = version + 1 WHERE id = NEW.room_id;
END;

CREATE TRIGGER rooms_version_booking_update AFTER UPDATE ON bookings
BEGIN
    UPDATE rooms SET version = version + 1 WHERE id IN (OLD.room_id, NEW.room_id);
END;

CREATE TRIGGER rooms_version_checkin AFTER INSERT ON checkins
WHEN NEW.room_id IS NOT NULL
BEGIN
    UPDATE rooms SET version = version + 1 WHERE id = NEW.room_id;
END;
