-- linli: rebuild (run with foreign keys off, checked with foreign_key_check before commit)
-- [M12] Group destinations: a building's or the volunteers' group chat, posted to through
-- its WeCom, DingTalk or Feishu robot. Tags select groups as they select residents.
CREATE TABLE chat_groups (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    channel         TEXT    NOT NULL CHECK (channel IN ('wecom', 'dingtalk', 'feishu')),
    language        TEXT    NOT NULL DEFAULT 'zh-CN',
    -- The robot's key (WeCom), access token (DingTalk) or hook id (Feishu), and its
    -- signing secret: sealed for the row (service/store/sealed.py), never shown again.
    credential      TEXT    NOT NULL,
    signing_secret  TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    -- Set when the provider refused the robot's key or signature (or staff turned it off).
    disabled_at     TEXT,
    disabled_reason TEXT
);
CREATE TABLE chat_group_tags (
    group_id INTEGER NOT NULL REFERENCES chat_groups(id) ON DELETE CASCADE,
    tag      TEXT    NOT NULL,
    PRIMARY KEY (group_id, tag)
) WITHOUT ROWID;
CREATE INDEX chat_group_tags_by_tag ON chat_group_tags(tag, group_id);

-- The messages table learns the robots' channels and which group a post went to. SQLite
-- cannot alter a CHECK, so the table is rebuilt with every column, index and constraint of
-- the live one (0002, 0005, 0004's booking_id, 0012's claimed_by), plus chat_group_id.
CREATE TABLE messages_new (
    id             INTEGER PRIMARY KEY,
    uid            TEXT    NOT NULL UNIQUE,
    group_uid      TEXT    NOT NULL,
    event_id       INTEGER REFERENCES events(id) ON DELETE CASCADE,
    invitation_id  INTEGER REFERENCES invitations(id) ON DELETE SET NULL,
    resident_id    INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    contact_id     INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    kind           TEXT    NOT NULL,
    channel        TEXT    NOT NULL
                   CHECK (channel IN ('sms', 'email', 'telegram', 'webhook',
                                      'wecom', 'dingtalk', 'feishu')),
    address        TEXT    NOT NULL,
    language       TEXT    NOT NULL,
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
    subscription_id INTEGER REFERENCES subscriptions(id) ON DELETE CASCADE,
    booking_id     INTEGER REFERENCES bookings(id) ON DELETE SET NULL,
    claimed_by     TEXT,
    chat_group_id  INTEGER REFERENCES chat_groups(id) ON DELETE CASCADE,
    CHECK ((status = 'sending') = (lease_until IS NOT NULL))
);
INSERT INTO messages_new (id, uid, group_uid, event_id, invitation_id, resident_id, contact_id,
                          kind, channel, address, language, note, urgent, status, attempts,
                          send_after, expires_at, lease_until, provider_id, last_error,
                          created_at, updated_at, subscription_id, booking_id, claimed_by)
    SELECT id, uid, group_uid, event_id, invitation_id, resident_id, contact_id, kind, channel,
           address, language, note, urgent, status, attempts, send_after, expires_at,
           lease_until, provider_id, last_error, created_at, updated_at, subscription_id,
           booking_id, claimed_by
      FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_due ON messages(channel, send_after) WHERE status = 'queued';
CREATE INDEX messages_leased ON messages(lease_until) WHERE status = 'sending';
CREATE INDEX messages_by_event ON messages(event_id, status, channel);
CREATE INDEX messages_by_group ON messages(group_uid);
CREATE INDEX messages_by_provider ON messages(channel, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_by_created ON messages(created_at);
CREATE INDEX messages_by_chat_group ON messages(chat_group_id) WHERE chat_group_id IS NOT NULL;

-- A group post's page: a resident gives their unit, gets a one-time code on their own
-- channel, and answers with it. Only the code's HMAC is kept; a code is good for a few
-- tries and a quarter of an hour, and once.
CREATE TABLE group_page_codes (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    code_mac    TEXT    NOT NULL,
    tries       INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    used_at     TEXT
);
CREATE INDEX group_page_codes_by_resident ON group_page_codes(event_id, resident_id, created_at);
