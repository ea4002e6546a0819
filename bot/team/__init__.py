"""The team and its accounts: connecting X accounts (OAuth, credentials, keys), people,
their roles and CoTags, each account's settings and business hours, and the audit log.

The lowest domain: it imports core, plumbing (x, slack) and storage, and no other
domain. The inbox, outbound, posts and digest build on it.
"""
