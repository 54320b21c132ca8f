"""Entry point: ``python -m account_service`` (configuration from the environment)."""

from account_service.app import AccountApp
from account_service.settings import AccountServiceSettings
from services.server import run_service


def main() -> None:
    run_service(AccountServiceSettings.from_env, AccountApp)


if __name__ == "__main__":
    main()
