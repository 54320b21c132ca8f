"""Hotel search over the configured hotel supplier (services/providers/hotels.py):
SearchHotels, GetHotelOffer and PriceHotelOffer.

- ``query``        a validated hotel search and its canonical form (cache key, page tokens)
- ``validation``   SearchHotelsRequest -> query, every violation naming its field
- ``destinations`` city code or name -> the supplier's city (cached per replica)
- ``results``      filters, sort keys and the proto shapes of hotels and offers
- ``offer_ids``    signed hotel offer ids and the offers kept in Redis behind them
- ``service``      the three RPCs' logic, cached and coalesced like flight search

Which supplier: ``SEARCH_HOTEL_PROVIDER`` (search_service/settings.py).
"""
