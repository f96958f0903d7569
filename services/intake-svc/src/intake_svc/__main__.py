from pathlib import Path

from crm_contracts import topics
from crm_runtime.cli import main as run
from intake_svc.config import IntakeSettings
from intake_svc.entrypoints.app import build_app

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run(IntakeSettings(), build_app, SERVICE_ROOT, [topics.LEADS, topics.DECISIONS, topics.CUSTOMER_EVENTS])


if __name__ == "__main__":
    main()
