"""The token broker, split by concern; ``ProviderBroker`` is its entry point.

- ``provider_broker.py``: the facade; picks the shared or degraded path per call.
- ``local_copy.py``: the replica's in-memory token, its wake-ups and counters.
- ``shared.py``: serving while Redis answers (waiting, half-open probe).
- ``refresh.py``: refreshing ahead of expiry under the fenced lease lock.
- ``degraded.py``: serving while Redis does not answer, and the hand-back.
- ``fleet.py``: the fleet's part of the status, read from Redis only when it may have changed.
- ``single_flight.py``: one coroutine at a time, its result shared.
"""

from token_service.broker.local_copy import Counters
from token_service.broker.provider_broker import ProviderBroker, Status
from token_service.broker.refresh import CONTENDED_POLL_SECONDS
from token_service.broker.single_flight import SingleFlight

__all__ = ["CONTENDED_POLL_SECONDS", "Counters", "ProviderBroker", "SingleFlight", "Status"]
