-- Page payloads move to raw.page_parts, in parts of at most 512 bytes (raw_archive.PART_BYTES).
-- Each commit's checkpoint rewrites a table's last, still-filling row group whole; with
-- ~37 KB access-log pages in one BLOB column, that row group grew by ~1 MB a day and every
-- checkpoint of a 90-day backfill held 2.4x its bytes (peak RSS 499 MB at `large`). Small
-- parts, 16,384 rows to a row group (connection.ROW_GROUP_ROWS), cap that at ~8 MB.
-- raw.pages stays what readers knew: a view joining each page's parts back into body_z.
-- Pages written before this migration keep their payload in page_meta.body_z (or body).
ALTER TABLE raw.pages RENAME TO page_meta;
CREATE TABLE IF NOT EXISTS raw.page_parts (
    load_seq BIGINT NOT NULL,
    page_seq INTEGER NOT NULL,
    part INTEGER NOT NULL,            -- order of the part within the page's zlib stream
    chunk BLOB NOT NULL
);
CREATE VIEW raw.pages AS
SELECT m.* EXCLUDE (body_z),
       coalesce(m.body_z, (
           SELECT reduce(list(p.chunk ORDER BY p.part), lambda a, b: a || b)
           FROM raw.page_parts p
           WHERE p.load_seq = m.load_seq AND p.page_seq = m.page_seq
       )) AS body_z
FROM raw.page_meta m;
