"""The community's rules: residents, events and answers, rooms and bookings, check-in,
subscriptions, inbound messages, staff."""
