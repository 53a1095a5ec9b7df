-- The organiser's console: password sign-in for staff, and browser sessions.

-- The name typed at sign-in (staff.name may be Chinese and long); NULL: no password sign-in.
ALTER TABLE staff ADD COLUMN login TEXT;
-- argon2id, in argon2's own encoded form (parameters and salt included).
ALTER TABLE staff ADD COLUMN password_hash TEXT;
CREATE UNIQUE INDEX staff_by_login ON staff(login) WHERE login IS NOT NULL;

CREATE TABLE console_sessions (
    id            INTEGER PRIMARY KEY,
    session_hash  TEXT    NOT NULL UNIQUE,  -- SHA-256 of the cookie's value; the value is never stored
    staff_id      INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    -- Signed in with an API token: revoking or expiring that token ends the session too.
    token_id      INTEGER REFERENCES api_tokens(id) ON DELETE CASCADE,
    csrf          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    last_seen_at  TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL,
    ended_at      TEXT
);
CREATE INDEX console_sessions_by_staff ON console_sessions(staff_id);
