"""profiles.traits_computed_at: when the traits were last computed (refresher).

Revision ID: profile_0003
Revises: profile_0002
Create Date: 2026-11-23

Both statements are idempotent: databases migrated before profile_0002 was made
explicit (it then created the tables from the current ``tables.py``) have the
column and index already. Existing rows are backfilled with ``updated_at``.
"""

from alembic import op

revision = "profile_0003"
down_revision = "profile_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE profile.profiles ADD COLUMN IF NOT EXISTS traits_computed_at "
        "TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()"
    )
    op.execute("UPDATE profile.profiles SET traits_computed_at = updated_at")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_profiles_traits_computed_at "
        "ON profile.profiles (traits_computed_at) WHERE merged_into IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS profile.ix_profiles_traits_computed_at")
    op.execute("ALTER TABLE profile.profiles DROP COLUMN IF EXISTS traits_computed_at")
