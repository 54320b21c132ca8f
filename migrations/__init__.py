"""The database schema's one home: Alembic revisions (versions/), the environment
(env.py), every service's tables gathered in one metadata (schema.py), and the entry
point ``python -m migrations`` (migrate.py) that ``make migrate``, ``make run``,
docker-compose and the Kubernetes migration Job run."""
