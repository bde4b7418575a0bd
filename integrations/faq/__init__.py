"""The FAQ knowledge base in the database: seeded from YAML, edited by admins."""

from integrations.faq.store import FAQStore

__all__ = ["FAQStore"]
