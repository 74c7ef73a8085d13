"""segment.segment_jobs (fills as background jobs) and segment.fill_claims.

Revision ID: segment_0005
Revises: segment_0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "segment_0005"
down_revision = "segment_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_jobs",
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("total", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("done", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("entered", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("exited", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_segment_jobs")),
        schema="segment",
    )
    op.create_index(
        op.f("ix_segment_jobs_state_created_at"),
        "segment_jobs",
        ["state", "created_at"],
        schema="segment",
    )
    op.create_index(
        op.f("ix_segment_jobs_tenant_id_segment_id_created_at"),
        "segment_jobs",
        ["tenant_id", "segment_id", "created_at"],
        schema="segment",
    )
    op.create_table(
        "fill_claims",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "segment_id", "profile_id", name=op.f("pk_fill_claims")
        ),
        schema="segment",
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("fill_claims", schema="segment")
    op.drop_index(
        op.f("ix_segment_jobs_tenant_id_segment_id_created_at"),
        table_name="segment_jobs",
        schema="segment",
    )
    op.drop_index(
        op.f("ix_segment_jobs_state_created_at"), table_name="segment_jobs", schema="segment"
    )
    op.drop_table("segment_jobs", schema="segment")
