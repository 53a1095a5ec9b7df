-- A rotated subscription secret keeps signing beside the new one for a while, so the
-- receiver can switch over without dropping messages (Standard Webhooks: several
-- signatures in one header).
ALTER TABLE subscriptions ADD COLUMN previous_secret TEXT;
ALTER TABLE subscriptions ADD COLUMN previous_secret_until TEXT;
