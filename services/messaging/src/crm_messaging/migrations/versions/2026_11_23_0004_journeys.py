"""Journeys: definitions, versions, runs, run keys, step history, memberships, facts.

Revision ID: messaging_0004
Revises: messaging_0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "messaging_0004"
down_revision = "messaging_0003"
branch_labels = None
depends_on = None

SCHEMA = "messaging"


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trigger_kind", sa.Text(), nullable=False),
        sa.Column("trigger_ref", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", "journey_id", name=op.f("pk_journeys")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_journeys_trigger"),
        "journeys",
        ["tenant_id", "trigger_kind", "trigger_ref", "status"],
        schema=SCHEMA,
    )
    op.create_table(
        "journey_versions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "journey_id", "version", name=op.f("pk_journey_versions")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "journey_runs",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("current_step_id", sa.Text(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "visited", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column(
            "context", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("next_wake_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_journey_runs")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_journey_runs_due"),
        "journey_runs",
        ["next_wake_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        op.f("ix_journey_runs_profile"),
        "journey_runs",
        ["tenant_id", "profile_id", "journey_id"],
        schema=SCHEMA,
    )
    op.create_index(
        op.f("uq_journey_runs_active"),
        "journey_runs",
        ["tenant_id", "journey_id", "profile_id"],
        schema=SCHEMA,
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "journey_run_keys",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("journey_id", sa.Text(), nullable=False),
        sa.Column("run_key", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "journey_id", "run_key", name=op.f("pk_journey_run_keys")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "journey_run_steps",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column(
            "detail", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_journey_run_steps")),
        schema=SCHEMA,
    )
    op.create_table(
        "journey_memberships",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "profile_id", "segment_id", name=op.f("pk_journey_memberships")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "journey_facts",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "data", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "profile_id", "kind", "ref", name=op.f("pk_journey_facts")
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("journey_facts", schema=SCHEMA)
    op.drop_table("journey_memberships", schema=SCHEMA)
    op.drop_table("journey_run_steps", schema=SCHEMA)
    op.drop_table("journey_run_keys", schema=SCHEMA)
    op.drop_index(op.f("ix_journey_runs_due"), table_name="journey_runs", schema=SCHEMA)
    op.drop_index(op.f("ix_journey_runs_profile"), table_name="journey_runs", schema=SCHEMA)
    op.drop_index(op.f("uq_journey_runs_active"), table_name="journey_runs", schema=SCHEMA)
    op.drop_table("journey_runs", schema=SCHEMA)
    op.drop_table("journey_versions", schema=SCHEMA)
    op.drop_index(op.f("ix_journeys_trigger"), table_name="journeys", schema=SCHEMA)
    op.drop_table("journeys", schema=SCHEMA)
