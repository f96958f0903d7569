from pathlib import Path

from crm_contracts import catalog
from crm_runtime.cli import main as run
from intake_svc.config import IntakeSettings
from intake_svc.entrypoints.app import build_app

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run(IntakeSettings(), build_app, SERVICE_ROOT, catalog.ensured("intake-svc"))


if __name__ == "__main__":
    main()
