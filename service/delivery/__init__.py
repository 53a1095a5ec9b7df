"""How messages travel: the worker, its lanes and rates, quiet hours, fallback, provider
reports, the delivery log."""
