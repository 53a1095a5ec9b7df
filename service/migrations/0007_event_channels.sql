-- The channels an event's messages may use: a JSON list of channel names, in no order
-- (each resident's own order still decides among them); '[]': every channel.
ALTER TABLE events ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
