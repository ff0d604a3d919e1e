"""The store: SQLAlchemy models, Alembic migrations, encrypted templates, audit log.

``facegate.core.store.db.Database`` owns the engine; ``Base`` is the declarative base every table
(also those of other areas, in their own modules) derives from. Nothing connects on import.
"""
