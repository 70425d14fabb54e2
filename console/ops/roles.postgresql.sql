-- The console's role on the ops store's PostgreSQL database (README, "Beyond one machine").
-- Run as a superuser (or billing_ops_owner), connected to that database, after
-- `python -m console.ops_migrate upgrade` has made the tables as billing_ops_owner.
-- Safe to run again.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO billing_console;
-- The audit and work logs are append-only for the console: only INSERT and SELECT. Not owning the
-- tables, it cannot drop or disable the triggers that refuse changes to every role either.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, work_log FROM billing_console;
-- Tables of later migrations (made by billing_ops_owner) are the console's to use too.
ALTER DEFAULT PRIVILEGES FOR ROLE billing_ops_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO billing_console;
