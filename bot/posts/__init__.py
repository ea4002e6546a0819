"""Composing posts for one or several accounts, now or at a time: the post modal and its
preview (views), each account's exact text checked and stored as outbound rows (compose),
and a local date and time made UTC (when).

Builds on bot.outbound, which sends each row once, and bot.team (who may post as an
account).
"""
