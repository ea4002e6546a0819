"""Acting as an account: who may and what is checked before anything is written
(acting, guards, the reply and DM modal), then each reply, DM, retweet and post sent to
X exactly once (sending, with reconciliation when X's answer is lost), its media
uploaded, and how it ended shown in Slack (reports).

Builds on bot.team (roles, credentials) and bot.inbox (a reply updates its mention's
card and cancels its reminder); bot.posts builds on this.
"""
