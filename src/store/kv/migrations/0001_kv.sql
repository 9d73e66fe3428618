-- Every tree's pairs. bytea compares bytewise (like sled), so `ORDER BY key` is sled's key order
-- and a prefix scan is one range of the primary key.
CREATE TABLE kv (
    tree text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tree, key)
);

-- The ids of `Backend::next_id`: shared by every replica, never 0, never given twice.
CREATE SEQUENCE kv_ids AS bigint START WITH 1 MINVALUE 1;
