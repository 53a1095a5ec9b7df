-- [M3] Answers: their history, the waitlist, requests already applied, reminders,
-- Telegram chat links, and integrators' webhook subscriptions.

-- When the resident (or an organiser for them) last answered.
ALTER TABLE invitations ADD COLUMN answered_at TEXT;
-- Place on the waitlist: the id of the answer that put the party there, so arrival order.
ALTER TABLE invitations ADD COLUMN waitlist_seq INTEGER;
CREATE INDEX invitations_waitlist ON invitations(event_id, waitlist_seq)
    WHERE answer = 'waitlisted';
CREATE INDEX invitations_by_answer ON invitations(event_id, answer);

-- Every change of an answer: when, through what, and by whom.
CREATE TABLE answers (
    id             INTEGER PRIMARY KEY,
    invitation_id  INTEGER NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    answer         TEXT    NOT NULL
                   CHECK (answer IN ('pending', 'yes', 'no', 'maybe', 'waitlisted')),
    party_size     INTEGER NOT NULL CHECK (party_size >= 1),
    via            TEXT    NOT NULL
                   CHECK (via IN ('link', 'sms', 'telegram', 'webhook', 'organiser', 'system')),
    -- 'resident', 'organiser:<name>' or 'system' (a promotion from the waitlist)
    actor          TEXT    NOT NULL,
    at             TEXT    NOT NULL
);
CREATE INDEX answers_by_invitation ON answers(invitation_id, id);

-- Requests already applied: a form's nonce, a provider's message id, a Telegram
-- update_id. The same key again changes nothing.
CREATE TABLE seen_requests (
    key  TEXT PRIMARY KEY,
    at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_requests_by_time ON seen_requests(at);

-- Reminder offsets in seconds before the start (JSON list), and the nudge to those who
-- have not answered (NULL: none).
ALTER TABLE events ADD COLUMN reminder_offsets TEXT NOT NULL DEFAULT '[86400, 7200]';
ALTER TABLE events ADD COLUMN nudge_offset INTEGER DEFAULT 172800;

-- Reminders and nudges that have fired: the key makes each fire once, whatever restarts
-- or clock changes happen.
CREATE TABLE reminders_fired (
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL CHECK (kind IN ('reminder', 'nudge')),
    offset_s  INTEGER NOT NULL,
    fired_at  TEXT    NOT NULL,
    PRIMARY KEY (event_id, kind, offset_s)
) WITHOUT ROWID;

-- Telegram deep-link tokens (t.me/<bot>?start=<token>) already spent, by hash: each
-- links a chat once (service/domain/telegram_links.py).
CREATE TABLE telegram_link_tokens (
    token_hash   TEXT PRIMARY KEY,
    resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    used_at      TEXT
) WITHOUT ROWID;

-- Integrators' webhook endpoints and the event types they want (JSON list).
CREATE TABLE subscriptions (
    id               INTEGER PRIMARY KEY,
    url              TEXT    NOT NULL,
    event_types      TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    signing_secret   TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    disabled_at      TEXT,
    disabled_reason  TEXT
);
ALTER TABLE messages ADD COLUMN subscription_id INTEGER
    REFERENCES subscriptions(id) ON DELETE CASCADE;
