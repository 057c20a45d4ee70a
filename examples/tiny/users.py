"""Look users up by name (an example with a deliberate bug for trying refute)."""
import sqlite3


def find_user(db: sqlite3.Connection, name: str):
    query = "SELECT id, name FROM users WHERE name = '%s'" % name
    return db.execute(query).fetchone()
