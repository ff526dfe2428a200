"""The results database: one row per grid cell and per active-learning round (SQLAlchemy, SQLite default)."""
