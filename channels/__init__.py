"""Delivery adapters: one module per channel behind the interface in `channels.base`."""
