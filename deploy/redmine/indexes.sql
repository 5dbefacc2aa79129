-- Optional indexes on Redmine's own database for the helpdesk's reads (REDMINE_READS=database).
-- Never applied by the helpdesk (its account on Redmine's database may only SELECT): a DBA runs
-- this once, by hand, as an account that may alter Redmine's tables, e.g.
--     mysql -u root redmine < deploy/redmine/indexes.sql
--     psql -U postgres redmine -f deploy/redmine/indexes.sql
-- Redmine 5.0 indexes issues.project_id and issues.status_id apart, and issues.updated_on not at
-- all. docs/PERFORMANCE.md ("On Redmine") shows what each saves, measured with EXPLAIN.
-- The names start with helpdesk_ so they are told apart from Redmine's; Redmine's migrations do
-- not touch them. To take them away again:
--     DROP INDEX helpdesk_issues_project_status ON issues;      (MariaDB/MySQL)
--     DROP INDEX helpdesk_issues_updated_on ON issues;
--     DROP INDEX helpdesk_issues_project_status;                 (PostgreSQL)
--     DROP INDEX helpdesk_issues_updated_on;

-- The board: one column is one project's issues in one status, a closed column only those
-- closed lately (KANBAN_CLOSED_DAYS). Without it MariaDB reads every issue of the project to
-- keep one status's, and every closed one to keep the last days'.
CREATE INDEX helpdesk_issues_project_status ON issues (project_id, status_id, closed_on);

-- "Changed since": the REST change feed (REDMINE_READS=rest without Redmine's database) and any
-- client that asks Redmine for updated_on>=… ; without it Redmine scans every issue.
CREATE INDEX helpdesk_issues_updated_on ON issues (updated_on);
