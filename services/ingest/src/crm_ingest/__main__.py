"""``python -m crm_ingest serve|migrate``."""

from crm_common.service import service_cli
from crm_ingest.config import IngestService, Settings

cli = service_cli("crm_ingest", IngestService, Settings)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
