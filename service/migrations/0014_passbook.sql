-- The points passbook (积分存折) and the points store (积分超市).
--
-- An append-only double-entry journal: a posting and its lines are written once and never
-- changed or removed (the triggers below refuse it, whatever path writes); a correction is
-- a `reversal` posting. The lines of a posting are written first, under the id the posting
-- will take, and the posting row seals them: it is refused unless they are two or more and
-- sum to zero, and no line may join a sealed posting. A line's amount is signed: plus is
-- points into the account. A household's balance is the sum of its lines; `balance` on the
-- account is a cache kept by a trigger, which `linli passbook verify` proves.
--
-- Household ids are kept as plain numbers, not foreign keys: the journal is history and
-- outlives a household's record (an erased household's lines still balance the books).

CREATE TABLE ledger_accounts (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('household', 'issuing', 'store')),
    household_id  INTEGER UNIQUE,
    -- What the counter types or scans to find the household (shown on its passbook page).
    code          TEXT    UNIQUE,
    balance       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    CHECK ((kind = 'household') = (household_id IS NOT NULL)),
    CHECK ((kind = 'household') = (code IS NOT NULL)),
    -- No household ever owes points: a redemption or reversal that would is refused.
    CHECK (kind != 'household' OR balance >= 0)
);
-- The community's issuing account (earning, bonuses, adjustments come from it, expiry
-- goes back to it) and the store's redemption account.
INSERT INTO ledger_accounts (id, kind, created_at) VALUES
    (1, 'issuing', '2026-01-01T00:00:00.000000Z'),
    (2, 'store', '2026-01-01T00:00:00.000000Z');

CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

-- Points an event gives per person who came, or per person and hour of the event.
CREATE TABLE event_points (
    event_id    INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
    per_person  INTEGER CHECK (per_person IS NULL OR per_person > 0),
    per_hour    INTEGER CHECK (per_hour IS NULL OR per_hour > 0)
) WITHOUT ROWID;

CREATE TABLE store_items (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    price          INTEGER NOT NULL CHECK (price > 0),
    stock          INTEGER NOT NULL CHECK (stock >= 0),   -- never below zero
    monthly_limit  INTEGER CHECK (monthly_limit IS NULL OR monthly_limit > 0),  -- per household
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE redemptions (
    id            INTEGER PRIMARY KEY,
    household_id  INTEGER NOT NULL,
    total         INTEGER NOT NULL CHECK (total > 0),
    operator      TEXT    NOT NULL,
    at            TEXT    NOT NULL
);
CREATE INDEX redemptions_by_household ON redemptions(household_id, at);

CREATE TABLE redemption_items (
    redemption_id  INTEGER NOT NULL REFERENCES redemptions(id),
    item_id        INTEGER NOT NULL REFERENCES store_items(id),
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    price          INTEGER NOT NULL CHECK (price > 0),
    PRIMARY KEY (redemption_id, item_id)
) WITHOUT ROWID;
CREATE INDEX redemption_items_by_item ON redemption_items(item_id);

CREATE TABLE ledger_postings (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL
                   CHECK (kind IN ('earn', 'redeem', 'adjust', 'bonus', 'expire', 'reversal')),
    -- Posting the same key again returns the first posting.
    idem_key       TEXT    NOT NULL UNIQUE CHECK (length(idem_key) BETWEEN 1 AND 200),
    operator       TEXT    NOT NULL CHECK (length(trim(operator)) > 0),  -- token or console user
    reason         TEXT    NOT NULL DEFAULT '',
    event_id       INTEGER,
    checkin_id     INTEGER UNIQUE,          -- earning at the door: once per check-in
    redemption_id  INTEGER UNIQUE REFERENCES redemptions(id),
    reverses_id    INTEGER UNIQUE REFERENCES ledger_postings(id),  -- reversed at most once
    at             TEXT    NOT NULL,
    CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL)),
    CHECK ((kind = 'redeem') = (redemption_id IS NOT NULL))
);
CREATE INDEX ledger_postings_by_kind ON ledger_postings(kind, at);
CREATE INDEX ledger_postings_by_event ON ledger_postings(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX ledger_postings_by_time ON ledger_postings(at);

CREATE TABLE ledger_lines (
    id          INTEGER PRIMARY KEY,
    -- Deferred: the lines are written before the posting row that seals them.
    posting_id  INTEGER NOT NULL REFERENCES ledger_postings(id) DEFERRABLE INITIALLY DEFERRED,
    account_id  INTEGER NOT NULL REFERENCES ledger_accounts(id),
    amount      INTEGER NOT NULL CHECK (amount != 0),
    -- A household's credit line is a lot; with expiry on, when it lapses (NULL: never).
    expires_at  TEXT
);
CREATE INDEX ledger_lines_by_posting ON ledger_lines(posting_id);
CREATE INDEX ledger_lines_by_account ON ledger_lines(account_id, id);
CREATE INDEX ledger_lines_expiring ON ledger_lines(expires_at) WHERE expires_at IS NOT NULL;

-- Which lot an `expire` posting took points from, and how many: each lot lapses once. A
-- lot spent before its time lapses nothing (no posting, amount 0) and is done with too.
CREATE TABLE ledger_lot_expiries (
    line_id     INTEGER PRIMARY KEY REFERENCES ledger_lines(id),
    posting_id  INTEGER REFERENCES ledger_postings(id) DEFERRABLE INITIALLY DEFERRED,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    CHECK ((posting_id IS NULL) = (amount = 0))
) WITHOUT ROWID;

CREATE TRIGGER ledger_lines_sealed BEFORE INSERT ON ledger_lines
WHEN EXISTS (SELECT 1 FROM ledger_postings WHERE id = NEW.posting_id)
BEGIN
    SELECT RAISE(ABORT, 'ledger_posting_sealed');
END;

CREATE TRIGGER ledger_postings_balanced BEFORE INSERT ON ledger_postings
WHEN (SELECT count(*) < 2 OR coalesce(sum(amount), 0) != 0 FROM ledger_lines
      WHERE posting_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'ledger_unbalanced');
END;

CREATE TRIGGER ledger_lines_cache AFTER INSERT ON ledger_lines
BEGIN
    UPDATE ledger_accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
END;

CREATE TRIGGER ledger_lines_no_update BEFORE UPDATE ON ledger_lines
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER ledger_lines_no_delete BEFORE DELETE ON ledger_lines
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER ledger_lot_expiries_no_change BEFORE UPDATE ON ledger_lot_expiries
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER ledger_lot_expiries_no_delete BEFORE DELETE ON ledger_lot_expiries
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER redemptions_no_change BEFORE UPDATE ON redemptions
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

CREATE TRIGGER redemptions_no_delete BEFORE DELETE ON redemptions
BEGIN
    SELECT RAISE(ABORT, 'ledger_append_only');
END;

-- The points store's counter mode: a tablet or phone at the store desk signs in with one
-- of these, scoped to finding a household and redeeming (it reads no phone numbers, and
-- names only masked). Kept apart from api_tokens, whose role CHECK cannot grow in place.
CREATE TABLE counter_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    token_hash  TEXT    NOT NULL UNIQUE,  -- SHA-256 of the token; the token is never stored
    created_by  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);

-- Which households were sent their statement for a month ('YYYY-MM'): once each, however
-- often the statements are asked for.
CREATE TABLE ledger_statements (
    household_id  INTEGER NOT NULL,
    month         TEXT    NOT NULL CHECK (length(month) = 7),
    sent_at       TEXT    NOT NULL,
    PRIMARY KEY (household_id, month)
) WITHOUT ROWID;

-- Lots whose household was told they expire soon ([passbook] expiry_notice_days): once.
CREATE TABLE ledger_lot_notices (
    line_id  INTEGER PRIMARY KEY REFERENCES ledger_lines(id),
    sent_at  TEXT    NOT NULL
) WITHOUT ROWID;
