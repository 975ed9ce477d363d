"""image import: deletion time, image tags

Revision ID: 0005_image_import
Revises: 0004_metadata_service_only
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_image_import"
down_revision = "0004_metadata_service_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table(
        "images",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.add_column(
            sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True)
        )

    # Images deleted before this revision were hidden by their status alone.
    op.execute(
        "UPDATE images SET deleted_at = created_at "
        "WHERE status = 'deleted' AND deleted_at IS NULL"
    )

    op.create_table(
        "image_tags",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("tag_name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_name"], ["tags.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id", "tag_name"),
    )


def downgrade() -> None:
    op.drop_table("image_tags")
    with op.batch_alter_table(
        "images",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_column("deleted_at")
