-- One server, three databases: the warehouse (created by POSTGRES_DB), Dagster's storage, MLflow's backend.
CREATE DATABASE dagster;
CREATE DATABASE mlflow;
