"""The SQLAlchemy metadata every domain's tables register on.

Conventions: every table has a `title_id` column leading its primary key and every unique
index, so no row can be reached without naming its title; times are Unix milliseconds
(BIGINT) so both backends compare and page them the same way; JSON is stored as text.
"""

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
