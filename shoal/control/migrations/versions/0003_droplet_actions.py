"""droplet backups and root password for droplet actions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table(
        "droplets",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.add_column(
            sa.Column(
                "backups_enabled",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch_op.add_column(sa.Column("backup_policy", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("next_backup_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("root_password_hash", sa.String(length=255), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "droplets",
        schema=None,
        # A rebuilt table keeps AUTOINCREMENT: ids are never handed out twice.
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_column("root_password_hash")
        batch_op.drop_column("next_backup_at")
        batch_op.drop_column("backup_policy")
        batch_op.drop_column("backups_enabled")
