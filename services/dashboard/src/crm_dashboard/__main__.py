"""``python -m crm_dashboard serve|migrate``."""

from crm_common.service import service_cli
from crm_dashboard.config import DashboardService, Settings

cli = service_cli("crm_dashboard", DashboardService, Settings)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
