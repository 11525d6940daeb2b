"""SQL migrations of the ``auth`` schema, applied by ``backdrop_common.migrations.migrate``."""
