"""Entry point: ``python -m tracking_service`` (configuration from the environment)."""

from services.server import run_service
from tracking_service.app import TrackingApp
from tracking_service.settings import TrackingServiceSettings


def main() -> None:
    run_service(TrackingServiceSettings.from_env, TrackingApp)


if __name__ == "__main__":
    main()
