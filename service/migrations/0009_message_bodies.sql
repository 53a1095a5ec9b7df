-- A message's text lives apart from its delivery state. The claim and the settle each
-- rewrite a message's row, and SQLite rewrites a row whole: with the text in it that was
-- about 4 KB an email, spilling onto overflow pages, for a change of status. The text is
-- written once, when the message is queued, and read once a try.
CREATE TABLE message_bodies (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    subject    TEXT    NOT NULL DEFAULT '',
    body_text  TEXT    NOT NULL,
    body_html  TEXT,
    extra      TEXT    NOT NULL DEFAULT '{}'  -- JSON: ics, buttons, links
);
INSERT INTO message_bodies (message_id, subject, body_text, body_html, extra)
    SELECT id, subject, body_text, body_html, extra FROM messages;
ALTER TABLE messages DROP COLUMN subject;
ALTER TABLE messages DROP COLUMN body_text;
ALTER TABLE messages DROP COLUMN body_html;
ALTER TABLE messages DROP COLUMN extra;
