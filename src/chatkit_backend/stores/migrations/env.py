"""Alembic environment: runs on the connection handed over in ``config.attributes``.

``chatkit_backend.stores.migrations.upgrade`` opens the connection (async engine,
``run_sync``), takes the migration lock and passes the connection here; there is no
``alembic.ini`` and no offline mode.
"""

from alembic import context

from chatkit_backend.stores.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "run migrations with `chatkit-backend db upgrade` or "
        "chatkit_backend.stores.migrations.upgrade(url), not the alembic command"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
