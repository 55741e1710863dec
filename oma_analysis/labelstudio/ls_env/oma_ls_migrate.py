"""Migrate an empty SQLite database with Label Studio's own start-up code, run in Label Studio's
environment: the same two steps ``label-studio start`` takes before it creates the user (its
settings, then ``migrate`` when the database is behind). The database lands in
``$LABEL_STUDIO_BASE_DATA_DIR/label_studio.sqlite3``. Called by ``oma_analysis.labelstudio.seed``."""

import contextlib
import io
import logging
import sys
import warnings


def main() -> None:
    # Label Studio's settings print banners and warnings while loading: errors only, on stderr.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        from django.db import connections
        from label_studio.server import _apply_database_migrations, _setup_env

        _setup_env()
        _apply_database_migrations()
        connections.close_all()  # nothing left in a write-ahead log: the file is the whole database


if __name__ == "__main__":
    sys.exit(main())
