"""one pending action per droplet, tag times, image provenance

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'in-progress' AND type != 'destroy'")


def upgrade() -> None:
    with op.batch_alter_table(
        "actions",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.create_index(
            "uq_actions_one_pending",
            ["resource_type", "resource_id"],
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )

    with op.batch_alter_table("droplet_tags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tagged_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table(
        "images",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.add_column(sa.Column("droplet_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_images_droplet_id"), ["droplet_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "images",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_droplet_id"))
        batch_op.drop_column("droplet_id")

    with op.batch_alter_table("droplet_tags", schema=None) as batch_op:
        batch_op.drop_column("tagged_at")

    with op.batch_alter_table(
        "actions",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_index("uq_actions_one_pending")
