"""Entry point: ``python -m booking_service`` (configuration from the environment)."""

from booking_service.app import BookingApp
from booking_service.settings import BookingServiceSettings
from services.server import run_service


def main() -> None:
    run_service(BookingServiceSettings.from_env, BookingApp)


if __name__ == "__main__":
    main()
