"""``python -m crm_segment serve|migrate``."""

from crm_common.service import service_cli
from crm_segment.config import SegmentService, Settings

cli = service_cli("crm_segment", SegmentService, Settings)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
