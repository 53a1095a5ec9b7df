"""The organiser's console: server-rendered pages over the same domain functions as the API."""
