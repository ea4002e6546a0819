"""A mention's life in Slack: intake from X (poll or stream), its card and thread
(delivery), who may act on it (access), status (triage), assignment, first-response
reminders (sla), thread commands, routing to channels, and the lists people work from.

Imports core, plumbing, storage and bot.team; never outbound, posts, digest or the
Home above it (the Home is reached through Runtime.publish_home).
"""
