"""``python -m crm_profile serve|migrate``."""

from crm_common.service import service_cli
from crm_profile.config import ProfileService, Settings

cli = service_cli("crm_profile", ProfileService, Settings)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
