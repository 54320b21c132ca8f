"""A booking's itinerary: the document (document.py) and the download links that open it
(links.py)."""
