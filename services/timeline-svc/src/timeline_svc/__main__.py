from pathlib import Path

from crm_contracts import catalog
from crm_runtime.cli import main as run
from timeline_svc.config import TimelineSettings
from timeline_svc.entrypoints.app import build_app

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run(TimelineSettings(), build_app, SERVICE_ROOT, catalog.ensured("timeline-svc"))


if __name__ == "__main__":
    main()
