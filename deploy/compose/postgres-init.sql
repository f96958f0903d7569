-- One database per service (run once, by the postgres image, on an empty volume).
-- Written by `crm-deploy-files`.
CREATE DATABASE intake OWNER crm;
CREATE DATABASE dedup OWNER crm;
CREATE DATABASE customer OWNER crm;
CREATE DATABASE allocation OWNER crm;
CREATE DATABASE timeline OWNER crm;
