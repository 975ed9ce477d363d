"""images that read only the metadata service get no seed ISO

Revision ID: 0004_metadata_service_only
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_metadata_service_only"
down_revision = "0003"
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
            sa.Column(
                "metadata_service_only",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "images",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_column("metadata_service_only")
