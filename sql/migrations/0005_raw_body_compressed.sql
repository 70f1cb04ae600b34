-- Page payloads are stored zlib-compressed in body_z (JSON text inside). Checkpointing a
-- day of access logs as plain JSON text cost ~0.29 s of the ~0.45 s the whole day took to
-- write, and the file grew ~2.5 MB a day; compressed, both drop more than tenfold.
-- body keeps the pages written before this migration (read either: raw_archive.load_pages;
-- in `alocity-etl sql`, raw_json(body_z) gives the text).
ALTER TABLE raw.pages ADD COLUMN IF NOT EXISTS body_z BLOB;
