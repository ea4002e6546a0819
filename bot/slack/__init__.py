"""Slack, as Roost talks to it: the Web API client and Slack's errors made Roost's, Block
Kit building blocks, mrkdwn escaping, whether Roost can post in a channel, and Roost's
own notices, each posted once.

Plumbing: it imports Roost's core and storage (the notices it posted), and knows nothing
of X or of any domain above it. Each domain keeps its own Block Kit views beside it,
built from these pieces.
"""
