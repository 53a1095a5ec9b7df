-- [M7] A contact's history: each time it was disabled (the far end said the address is
-- gone: webhook 410, a blocked bot, Twilio 21610) or enabled again (by an organiser, or
-- by the resident linking or texting anew), when and why. The contact's own
-- disabled_at/disabled_reason say how it stands now; this keeps what came before.
CREATE TABLE contact_changes (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    at          TEXT    NOT NULL,
    change      TEXT    NOT NULL CHECK (change IN ('disabled', 'enabled')),
    reason      TEXT    NOT NULL
);
CREATE INDEX contact_changes_by_contact ON contact_changes(contact_id, id);
-- A contact disabled before keeps why in its history.
INSERT INTO contact_changes (contact_id, at, change, reason)
    SELECT id, disabled_at, 'disabled', coalesce(disabled_reason, '') FROM contacts
    WHERE disabled_at IS NOT NULL;
