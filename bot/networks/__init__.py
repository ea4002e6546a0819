"""What Roost needs of a social network, named once (`bot.networks.base.Network`), with
Bluesky and Mastodon each an adapter behind it (`bot.networks.bluesky`,
`bot.networks.mastodon`). X's adapter is `bot.x`.

Plumbing: it imports Roost's core (errors, clock, settings) and knows nothing of Slack,
of storage or of any domain above it.
"""
