-- A webhook message's JSON body is its body_text, stored once: rendered messages already
-- kept it there beside a copy in extra.payload; an integrator's event kept it only there.
UPDATE messages SET body_text = json_extract(extra, '$.payload')
 WHERE channel = 'webhook' AND body_text = '' AND json_type(extra, '$.payload') = 'object';
UPDATE messages SET extra = json_remove(extra, '$.payload')
 WHERE channel = 'webhook' AND json_type(extra, '$.payload') IS NOT NULL;
