"""The worker's database (``TRIAGE_DATABASE_URL``): SQLite by default, PostgreSQL in production.

Alembic migrations ship in the package: ``triage db upgrade`` runs them, and so does
``triage run`` as it starts.
"""

from worker.db.engine import Database, DatabaseError, database_url
from worker.db.migrate import current, head, upgrade

__all__ = ["Database", "DatabaseError", "current", "database_url", "head", "upgrade"]
