"""Roost's sandbox: faithful fakes of Slack and X on loopback, the page a person drives
them from, and the practice scenarios. The tests and benchmarks run Roost against the
same fakes (see DESIGN.md, "Talking to Slack and X without the internet")."""
