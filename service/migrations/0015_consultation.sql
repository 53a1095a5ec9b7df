-- linli: rebuild (the checkins table is rebuilt below: run with foreign keys off)
-- [M9] The consultation list: residents' needs (需求清单), the items organisers make of
-- them (协商清单), households' support, meetings' agendas and records, outcomes told back,
-- and paper ticks on the printed roster as check-ins.

-- An item of the consultation list. Its status only moves forward (the domain checks
-- the move; the trigger below refuses a step back from any path).
CREATE TABLE consultation_items (
    id                 INTEGER PRIMARY KEY,
    title              TEXT    NOT NULL CHECK (length(trim(title)) > 0),
    description        TEXT    NOT NULL DEFAULT '',
    category           TEXT    CHECK (category IN
                               ('environment', 'safety', 'activity', 'facility', 'other')),
    status             TEXT    NOT NULL DEFAULT 'collected' CHECK (status IN
                               ('collected', 'discussing', 'decided', 'in_progress', 'done')),
    -- Set when the item is decided; NULL before.
    decision           TEXT    CHECK (decision IN ('accepted', 'rejected', 'deferred')),
    -- The decision's words as residents will read them (saved apart from publishing).
    outcome            TEXT    NOT NULL DEFAULT '',
    -- Supporters needed for "discuss at the next meeting".
    support_threshold  INTEGER NOT NULL DEFAULT 10 CHECK (support_threshold >= 1),
    review_on          TEXT,              -- local date YYYY-MM-DD the organiser looks again
    -- The outcome as last published; NULL: never published, so nobody is told anything.
    published_at       TEXT,
    published_outcome  TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);
CREATE INDEX consultation_items_by_status ON consultation_items(status, id);
CREATE INDEX consultation_items_by_review ON consultation_items(review_on)
    WHERE review_on IS NOT NULL;

CREATE TRIGGER consultation_items_forward_only
BEFORE UPDATE OF status ON consultation_items
WHEN (CASE NEW.status WHEN 'collected' THEN 0 WHEN 'discussing' THEN 1 WHEN 'decided' THEN 2
      WHEN 'in_progress' THEN 3 ELSE 4 END)
   < (CASE OLD.status WHEN 'collected' THEN 0 WHEN 'discussing' THEN 1 WHEN 'decided' THEN 2
      WHEN 'in_progress' THEN 3 ELSE 4 END)
BEGIN
    SELECT RAISE(ABORT, 'item_moves_forward_only');
END;

-- A resident's wish as they said it, and how it reached Linli.
CREATE TABLE needs (
    id            INTEGER PRIMARY KEY,
    text          TEXT    NOT NULL CHECK (length(trim(text)) > 0),
    category      TEXT    CHECK (category IN
                          ('environment', 'safety', 'activity', 'facility', 'other')),
    building      TEXT    NOT NULL DEFAULT '',
    resident_id   INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    household_id  INTEGER REFERENCES households(id) ON DELETE SET NULL,
    via           TEXT    NOT NULL CHECK (via IN ('page', 'sms', 'telegram', 'organiser', 'api')),
    actor         TEXT    NOT NULL,      -- 'resident' or the organiser's token name
    item_id       INTEGER REFERENCES consultation_items(id) ON DELETE SET NULL,
    -- The page's form nonce or the provider's message id: sent again, nothing new.
    request_key   TEXT    UNIQUE,
    created_at    TEXT    NOT NULL
);
CREATE INDEX needs_by_item ON needs(item_id);
CREATE INDEX needs_by_time ON needs(created_at);

-- One row per household supporting an item; withdrawing deletes it.
CREATE TABLE item_supports (
    item_id       INTEGER NOT NULL REFERENCES consultation_items(id) ON DELETE CASCADE,
    household_id  INTEGER NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    resident_id   INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    via           TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (item_id, household_id)
) WITHOUT ROWID;

-- Every step of an item: who, when, what and why. Appended, never changed.
CREATE TABLE item_steps (
    id           INTEGER PRIMARY KEY,
    item_id      INTEGER NOT NULL REFERENCES consultation_items(id) ON DELETE CASCADE,
    at           TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,     -- created, need_merged, status, decided, edited, published
    from_status  TEXT,
    to_status    TEXT,
    decision     TEXT,                 -- the decision a step to decided carried
    reason       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX item_steps_by_item ON item_steps(item_id, id);

CREATE TRIGGER item_steps_append_only_update BEFORE UPDATE ON item_steps
BEGIN
    SELECT RAISE(ABORT, 'item_steps_append_only');
END;

-- A meeting's agenda: items in order, and the decision taken on each when it closed.
CREATE TABLE meeting_agenda (
    event_id   INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    item_id    INTEGER NOT NULL REFERENCES consultation_items(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    decision   TEXT    CHECK (decision IN ('accepted', 'rejected', 'deferred')),
    PRIMARY KEY (event_id, item_id)
) WITHOUT ROWID;
CREATE INDEX meeting_agenda_by_item ON meeting_agenda(item_id);

-- A closed meeting's record.
CREATE TABLE meeting_records (
    event_id   INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
    minutes    TEXT    NOT NULL DEFAULT '',
    attendees  INTEGER NOT NULL DEFAULT 0,
    closed_by  TEXT    NOT NULL,
    closed_at  TEXT    NOT NULL
);

-- Who was told an item's outcome: one row per item and resident, ever. The notice is
-- queued in the same transaction as its row, so a retry, a republish or a run after a
-- crash finds the row and queues nothing.
CREATE TABLE outcome_notices (
    item_id      INTEGER NOT NULL REFERENCES consultation_items(id) ON DELETE CASCADE,
    resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    message_uid  TEXT,                 -- NULL: nobody to reach on a usable channel
    at           TEXT    NOT NULL,
    PRIMARY KEY (item_id, resident_id)
) WITHOUT ROWID;

-- Paper ticks from the printed roster are check-ins too (via 'paper'). SQLite cannot
-- change a CHECK in place, so the table is rebuilt with its indexes and trigger.
CREATE TABLE checkins_new (
    id          INTEGER PRIMARY KEY,
    code        TEXT    UNIQUE REFERENCES checkin_codes(code) ON DELETE CASCADE,
    room_id     INTEGER REFERENCES rooms(id) ON DELETE CASCADE,
    event_id    INTEGER REFERENCES events(id) ON DELETE CASCADE,
    booking_id  INTEGER REFERENCES bookings(id) ON DELETE CASCADE,
    party_size  INTEGER NOT NULL CHECK (party_size >= 0),
    walk_ins    INTEGER NOT NULL DEFAULT 0 CHECK (walk_ins >= 0),
    via         TEXT    NOT NULL CHECK (via IN ('tablet', 'api', 'organiser', 'paper')),
    device      TEXT    NOT NULL DEFAULT '',
    nonce       TEXT    UNIQUE,
    at          TEXT    NOT NULL,
    CHECK (code IS NOT NULL OR walk_ins > 0)
);
INSERT INTO checkins_new SELECT id, code, room_id, event_id, booking_id, party_size, walk_ins,
    via, device, nonce, at FROM checkins;
DROP TABLE checkins;
ALTER TABLE checkins_new RENAME TO checkins;
CREATE INDEX checkins_by_event ON checkins(event_id, at);
CREATE INDEX checkins_by_booking ON checkins(booking_id);
CREATE INDEX checkins_by_room ON checkins(room_id, at);
CREATE TRIGGER rooms_version_checkin AFTER INSERT ON checkins
WHEN NEW.room_id IS NOT NULL
BEGIN
    UPDATE rooms SET version = version + 1 WHERE id = NEW.room_id;
END;
