"""The read side: projectors that turn the services' events into read models, and the queries on them."""
