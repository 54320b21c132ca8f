"""The hotel supplier stand-in: its world, search, pricing and orders in the shapes of
the Amadeus Self-Service hotel APIs, and its ``/_sim/`` controls. Its login (password
and refresh grants) is ``provider_sim.hotel``.

- ``world``      real cities (the flight world's, with their centres) and their areas
- ``inventory``  hotels, room types, rate plans, nightly prices and rooms (seeded)
- ``market``     rooms sold, price epochs, offer ids, orders and order faults
- ``shopping``   city search, hotel lists, offers, offer pricing, sentiments
- ``orders``     ``/v2/booking/hotel-orders`` (create, get, delete)
- ``control``    ``/_sim/`` controls for rooms, prices, order faults and counters
"""
