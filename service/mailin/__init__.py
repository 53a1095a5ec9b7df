"""Mail in: the SMTP receiver and the IMAP reader that bring mail to the reply address to the domain."""
