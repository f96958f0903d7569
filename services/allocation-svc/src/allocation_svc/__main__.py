from pathlib import Path

from allocation_svc.config import AllocationSettings
from allocation_svc.entrypoints.app import build_app
from crm_contracts import catalog
from crm_runtime.cli import main as run

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run(AllocationSettings(), build_app, SERVICE_ROOT, catalog.ensured("allocation-svc"))


if __name__ == "__main__":
    main()
