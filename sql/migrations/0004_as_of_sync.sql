-- Time travel by sync id. history.<table>_as_of(ts) (created by code with each catalog
-- table) answers "as of a time"; these answer "as of the end of sync N":
--   meta.sync_started_at(N)            the snapshot time of sync N (its rows' valid_from)
--   history.as_of_sync('users', N)     the source state of history.users as sync N wrote it
-- An unknown sync id is an error, not an empty result. Catalog tables are created after
-- the migrations run, so the table macro reads its table through query_table at call time.
CREATE OR REPLACE MACRO meta.sync_started_at(sid) AS coalesce(
    (SELECT started_at FROM meta.syncs WHERE sync_id = sid),
    error('no sync with id ' || CAST(sid AS VARCHAR) || ' in meta.syncs')
);

CREATE OR REPLACE MACRO history.as_of_sync(table_name, sid) AS TABLE
    SELECT * EXCLUDE (valid_from, valid_to, is_current, is_deleted, row_hash, sync_id)
    FROM query_table('history.' || table_name)
    WHERE valid_from <= meta.sync_started_at(sid)
      AND (valid_to IS NULL OR meta.sync_started_at(sid) < valid_to)
      AND NOT is_deleted;
