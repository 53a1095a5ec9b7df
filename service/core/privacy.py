"""Masking personal data for public screens: 张*, 138****0000, w***@example.org."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """The first character, then one star: 张三丰 -> 张*."""
    name = name.strip()
    return f"{name[:1]}*" if name else ""


def mask_address(channel: str, address: str) -> str:
    """An address with most of it hidden; webhook URLs and chat ids show only their kind."""
    if channel == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if channel == "sms":
        return f"{address[:-8]}****{address[-4:]}" if len(address) > 8 else "****"
    if channel == "telegram":
        return "Telegram"
    return "webhook"
