"""The [mail_in] settings: where calendar replies and other mail to the reply address
reach Linli (an SMTP receiver `linli serve` runs, or IMAP polling of a mailbox). Declared
here (neutral ground) so service/settings.py and service/mailin share them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import at_least, between, not_empty, one_of, setting


def _mailbox_or_empty(value: Any) -> str | None:
    local, at, domain = str(value).rpartition("@")
    if value == "" or (at and local and "." in domain and "+" not in local and " " not in value):
        return None
    return "must be empty or an address such as replies@example.org (without a +tag)"


@dataclass(frozen=True)
class MailInSettings:
    """[mail_in]: the reply mailbox and the ways its mail reaches Linli."""

    reply_address: str = setting("", _mailbox_or_empty)
    smtp_enabled: bool = setting(False)
    smtp_host: str = setting("127.0.0.1", not_empty)
    smtp_port: int = setting(2525, between(0, 65535))
    smtp_max_bytes: int = setting(10_485_760, between(65_536, 104_857_600))
    imap_enabled: bool = setting(False)
    imap_host: str = setting("")
    imap_port: int = setting(993, between(1, 65535))
    imap_security: str = setting("tls", one_of("tls", "none"))
    imap_username: str = setting("")
    imap_password: str = setting("", secret=True)
    imap_folder: str = setting("INBOX", not_empty)
    imap_poll_s: float = setting(60.0, at_least(0.05))
    imap_idle: bool = setting(True)
    imap_delete: bool = setting(False)
    imap_timeout_s: float = setting(30.0, at_least(0.5))

    @property
    def reads_replies(self) -> bool:
        """Whether calendar replies are read: only then do invitations ask for them."""
        return bool(self.reply_address) and (self.smtp_enabled or self.imap_enabled)


@dataclass
class MailIn:
    """What runs in this server: the SMTP receiver's port (None when it is off) and
    whether the IMAP reader is running."""

    smtp_port: int | None = None
    imap_reading: bool = False
