"""Surges: an account's mention rate against its usual one, and the mentions of a surge
grouped by what they are about, so a team answers a crisis by the group, not one by one.

A domain above the inbox: it imports core, plumbing (x, slack), storage, the team and the
inbox, and nothing above them.
"""
