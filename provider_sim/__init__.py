"""Local HTTP stand-in for the Amadeus Self-Service API.

The real upstream cannot be reached from development or test machines, so the platform
talks to this server instead. It follows Amadeus' published contract (paths, bodies,
error codes, content types) closely enough that switching to the real provider is a
change of base URL and credentials, and it adds a ``/_sim/`` control interface that lets
tests count tokens and requests and inject failures, latency, rate limits and revocations.
Flight offers, pricing and orders run over the stand-in's own seeded inventory.

Modules, one idea each:

- ``settings``     command line and environment, read once into a frozen object
- ``state``        clients, issued tokens, counters, faults and config (no aiohttp)
- ``errors``       Amadeus error bodies and content types
- ``oauth``        the OAuth2 token endpoint and token info
- ``refresh``      rotating refresh tokens: families, reuse detection, grace, lifetimes
- ``codes``        one-time authorization codes
- ``hotel``        the hotel supplier profile: password + refresh grants on its own path
- ``hotels/``      the hotel supplier's world, search, pricing, orders and controls
- ``grants``       grants that yield refresh tokens, shared by every provider profile
- ``bearer``       ``require_bearer``: Authorization checks shared by every API endpoint
- ``reference``    ``GET /v1/reference-data/airlines``
- ``world``        airports (IATA, time zones), carriers, aircraft, currencies
- ``inventory``    the deterministic flight network, schedules, seats and fares (seeded)
- ``market``       run-time seats, price shift, orders and order faults over the inventory
- ``offers``       search, pricing and the Amadeus flight-offer JSON
- ``body``         JSON request bodies with Amadeus errors pointing at the field
- ``shopping``     ``/v2/shopping/flight-offers`` (GET, POST) and ``.../pricing``
- ``orders``       ``/v1/booking/flight-orders`` (create, get, delete)
- ``control``      the ``/_sim/`` test control interface
- ``flight_control`` ``/_sim/`` controls for inventory, prices, seats and orders
- ``grant_control`` ``/_sim/`` controls for refresh-token policies, bootstrap and counters
- ``latency``      simulated delays that never block other requests
- ``keys``         typed keys for sharing state between handlers
- ``access_log``   one JSON line per request, never with secrets
- ``app``          ``create_app(state)``
- ``server``       bind, write the port file, serve until SIGTERM/SIGINT
"""
