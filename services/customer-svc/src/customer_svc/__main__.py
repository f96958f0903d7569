import sys
from pathlib import Path

from crm_contracts import catalog
from crm_runtime.cli import main as run
from customer_svc.config import CustomerSettings
from customer_svc.entrypoints import cli
from customer_svc.entrypoints.app import build_app

SERVICE_ROOT = Path(__file__).resolve().parents[2]
# What `migrate` creates (with dead-letter topics) and `dlq` looks at: published, then consumed.
TOPICS = catalog.ensured("customer-svc")


def main() -> None:
    settings = CustomerSettings()
    if sys.argv[1:2] == ["members"]:  # memberships for operators (entrypoints/cli.py); the rest is crm_runtime's
        sys.exit(cli.main(settings, sys.argv[2:]))
    run(settings, build_app, SERVICE_ROOT, TOPICS)


if __name__ == "__main__":
    main()
