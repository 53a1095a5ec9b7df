"""The HTTP layer: parse and check requests, call one domain function, render the result."""
