"""``python -m crm_messaging serve|migrate``."""

from crm_common.service import service_cli
from crm_messaging.config import MessagingService, Settings

cli = service_cli("crm_messaging", MessagingService, Settings)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
