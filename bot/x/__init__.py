"""X, as Roost talks to it: the client and X's errors made Roost's, posts normalized to
the mentions intake stores, OAuth 2.0's token calls, and text as X counts it (with the
CoTag that signs it).

Plumbing: it imports Roost's core (errors, clock, settings, logs) and storage's record
of an incoming mention, and knows nothing of Slack or of any domain above it.
"""
