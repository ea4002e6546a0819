"""Slack, as Roost talks to it: the Web API client and Slack's errors made Roost's, Block
Kit building blocks, mrkdwn escaping, and whether Roost can post in a channel.

Plumbing: it imports only Roost's core and knows nothing of X or of any domain above
it. Each domain keeps its own Block Kit views beside it, built from these pieces.
"""
