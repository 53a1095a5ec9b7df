-- [M7] Who holds a message's lease: the claiming worker's host, process id and process
-- start. A restart takes back at once the leases of a process that is gone, instead of
-- waiting each one out (see service/delivery/claimer.py).
ALTER TABLE messages ADD COLUMN claimed_by TEXT;
