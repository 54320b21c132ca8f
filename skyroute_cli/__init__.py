"""A small CLI to demo and debug the skyroute stack (``python -m skyroute_cli --help``).

``search`` and ``booking`` reach the search and booking replicas over round-robin
channels; ``token`` and ``download`` use the same ``TokenClient`` the services use. The
addresses and credentials come from the environment that ``make run`` writes to
``.run/dev.env``. One module per command group (search.py, booking.py, tokens.py),
shared helpers in common.py.
"""
