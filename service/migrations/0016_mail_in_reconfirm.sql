-- linli: rebuild (the answers table is rebuilt below: run with foreign keys off)
-- [M10] Answers from calendar clients (iTIP REPLY by email), mail Linli could not read
-- on its own, where the IMAP reader is in its mailbox; and reconfirmation.

-- Answers may now arrive by 'calendar'. SQLite cannot change a CHECK in place: the table
-- is rebuilt with the same rows and ids (nothing references it).
CREATE TABLE answers_new (
    id             INTEGER PRIMARY KEY,
    invitation_id  INTEGER NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    answer         TEXT    NOT NULL
                   CHECK (answer IN ('pending', 'yes', 'no', 'maybe', 'waitlisted')),
    party_size     INTEGER NOT NULL CHECK (party_size >= 1),
    via            TEXT    NOT NULL
                   CHECK (via IN ('link', 'sms', 'telegram', 'webhook', 'organiser', 'system',
                                  'calendar')),
    -- 'resident', 'organiser:<name>' or 'system' (a promotion from the waitlist)
    actor          TEXT    NOT NULL,
    at             TEXT    NOT NULL
);
INSERT INTO answers_new (id, invitation_id, answer, party_size, via, actor, at)
    SELECT id, invitation_id, answer, party_size, via, actor, at FROM answers;
DROP TABLE answers;
ALTER TABLE answers_new RENAME TO answers;
CREATE INDEX answers_by_invitation ON answers(invitation_id, id);

-- The newest calendar reply applied to each invitation: a reply with a lower SEQUENCE,
-- or the same SEQUENCE and an older (or equal) DTSTAMP, changes nothing (RFC 5546 2.1.5).
CREATE TABLE calendar_replies (
    invitation_id  INTEGER PRIMARY KEY REFERENCES invitations(id) ON DELETE CASCADE,
    sequence       INTEGER NOT NULL,
    dtstamp        TEXT    NOT NULL,
    partstat       TEXT    NOT NULL,
    at             TEXT    NOT NULL
);

-- Mail to the reply address that no rule could apply: a plain reply ("我来，两个人"), a
-- TENTATIVE, a reply refused (answers closed, no seats). The organiser applies or
-- dismisses each from the console's inbox. `suggested`/`party_size`: what the text
-- seems to say, read as an SMS reply is.
CREATE TABLE mail_inbox (
    id            INTEGER PRIMARY KEY,
    message_key   TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL CHECK (kind IN ('plain', 'tentative', 'refused')),
    event_id      INTEGER REFERENCES events(id) ON DELETE CASCADE,
    resident_id   INTEGER REFERENCES residents(id) ON DELETE CASCADE,
    sender        TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    suggested     TEXT    CHECK (suggested IN ('yes', 'no', 'maybe')),
    party_size    INTEGER,
    received_at   TEXT    NOT NULL,
    handled_at    TEXT,
    handled_by    TEXT,
    handled_as    TEXT
);
CREATE INDEX mail_inbox_open ON mail_inbox(received_at) WHERE handled_at IS NULL;

-- Where the IMAP reader is: the folder's UIDVALIDITY and the highest UID it has read.
-- A new UIDVALIDITY means the old UIDs name nothing: it reads the folder again (every
-- message is applied once by its Message-ID anyway).
CREATE TABLE mail_cursors (
    mailbox      TEXT    PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    at           TEXT    NOT NULL
) WITHOUT ROWID;

-- Reconfirmation, per event (no row: off). `hours_before`: when confirmed attendees are
-- asked to reconfirm; `deadline_hours_before`: by when (before the start); `unconfirmed`:
-- what happens to whoever has not: 'release' frees their seats (the waitlist moves up),
-- 'flag' marks them on the attendance.
CREATE TABLE event_reconfirm (
    event_id               INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
    hours_before           INTEGER NOT NULL CHECK (hours_before BETWEEN 1 AND 720),
    deadline_hours_before  INTEGER NOT NULL CHECK (deadline_hours_before >= 0),
    unconfirmed            TEXT    NOT NULL CHECK (unconfirmed IN ('release', 'flag')),
    CHECK (deadline_hours_before < hours_before)
);

-- Each stage of an event's reconfirmation ('request', then 'deadline') runs once: its row
-- is written in the transaction that does the stage's work, so a restart, a second
-- process or a clock set back never runs it again.
CREATE TABLE reconfirm_stages (
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    stage     TEXT    NOT NULL CHECK (stage IN ('request', 'deadline')),
    done_at   TEXT    NOT NULL,
    PRIMARY KEY (event_id, stage)
) WITHOUT ROWID;

-- Who was asked to reconfirm, whether they did, and what the deadline did to them.
CREATE TABLE reconfirmations (
    invitation_id   INTEGER PRIMARY KEY REFERENCES invitations(id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    requested_at    TEXT    NOT NULL,
    reconfirmed_at  TEXT,
    outcome         TEXT    CHECK (outcome IN ('released', 'flagged')),
    settled_at      TEXT
);
CREATE INDEX reconfirmations_by_event ON reconfirmations(event_id);
