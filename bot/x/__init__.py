"""X, as Roost talks to it: the client and X's errors made Roost's, posts normalized to
mentions, media uploads, OAuth 2.0's token calls, and text as X counts it.

Plumbing: it imports only Roost's core (errors, clock, rate limits) and knows nothing
of Slack or of any domain above it.
"""
