"""``python -m crm_dashboard serve|migrate|create-user``."""

from __future__ import annotations

import asyncio

import typer

from crm_common.db import Database
from crm_common.service import service_cli
from crm_dashboard.config import DashboardService, Settings
from crm_dashboard.handlers.users import UserError, create_user

cli = service_cli("crm_dashboard", DashboardService, Settings)


async def _create(tenant: str, email: str, role: str, password: str, operator: bool) -> str:
    db = Database.from_settings(Settings().postgres)
    try:
        async with db.transaction() as session:
            user = await create_user(session, tenant, email, role, password, operator=operator)
    finally:
        await db.close()
    return user.user_id


@cli.command("create-user")
def create_user_command(
    tenant: str = typer.Option(..., help="tenant id the user belongs to"),
    email: str = typer.Option(...),
    role: str = typer.Option("viewer", help="admin | marketer | viewer"),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, envvar="DASHBOARD_NEW_USER_PASSWORD"
    ),
    operator: bool = typer.Option(
        False, help="installation operator: every tenant's dead letters and numbers"
    ),
) -> None:
    """Create a console user (password hashed with argon2id)."""
    try:
        user_id = asyncio.run(_create(tenant, email, role, password, operator))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    kind = f"{role}, operator" if operator else role
    typer.echo(f"created {user_id} ({kind}) for tenant {tenant}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
