-- linli: rebuild (run with foreign keys off, checked with foreign_key_check before commit)
-- [M7] An erased resident's answers stay in their events' counts: an invitation outlives
-- its resident, who becomes NULL (ON DELETE SET NULL) instead of taking the invitation,
-- its answers and its check-in with them (ON DELETE CASCADE). SQLite cannot alter a
-- column's constraint, so the table is rebuilt (https://sqlite.org/lang_altertable.html,
-- "other kinds of table schema changes"), with foreign keys off so that dropping the old
-- table does not cascade into answers, check-in codes and messages.
CREATE TABLE invitations_new (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    -- NULL once the resident was erased: the answer still counts, nobody is behind it.
    resident_id  INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    answer       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (answer IN ('pending', 'yes', 'no', 'maybe', 'waitlisted')),
    party_size   INTEGER NOT NULL DEFAULT 1 CHECK (party_size >= 1),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    answered_at  TEXT,
    waitlist_seq INTEGER,
    no_show_at   TEXT,
    -- One invitation per resident and event: sending an event twice invites nobody twice.
    UNIQUE (event_id, resident_id)
);
INSERT INTO invitations_new (id, event_id, resident_id, answer, party_size, created_at,
                             updated_at, answered_at, waitlist_seq, no_show_at)
    SELECT id, event_id, resident_id, answer, party_size, created_at, updated_at,
           answered_at, waitlist_seq, no_show_at
      FROM invitations;
DROP TABLE invitations;
ALTER TABLE invitations_new RENAME TO invitations;
CREATE INDEX invitations_by_resident ON invitations(resident_id, created_at);
CREATE INDEX invitations_waitlist ON invitations(event_id, waitlist_seq)
    WHERE answer = 'waitlisted';
CREATE INDEX invitations_by_answer ON invitations(event_id, answer);
