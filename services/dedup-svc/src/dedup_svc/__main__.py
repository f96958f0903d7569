from pathlib import Path

from crm_contracts import catalog
from crm_runtime.cli import main as run
from dedup_svc.config import DedupSettings
from dedup_svc.entrypoints.app import build_app

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    run(DedupSettings(), build_app, SERVICE_ROOT, catalog.ensured("dedup-svc"))


if __name__ == "__main__":
    main()
