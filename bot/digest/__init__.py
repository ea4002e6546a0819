"""What the team reads about itself: the daily digest per channel and each person's DM
digest (daily), `/roost stats` (stats), the figures they rest on (figures: first
response and resolution against the period before), the activity chart (charts) and
recurring words (topics), with their Block Kit (views).

Reads what the other domains stored; builds on bot.team and bot.inbox (links to
cards), and nothing builds on it.
"""
