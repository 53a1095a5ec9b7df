-- `linli staff disable LOGIN`: when a staff member was disabled (NULL: active). A disabled
-- member's password sign-in is refused; their sessions end and their API tokens are revoked
-- as it is set. `linli staff password` clears it.
ALTER TABLE staff ADD COLUMN disabled_at TEXT;
