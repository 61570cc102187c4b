"""Notifications: persistent or transient messages to users, live on the socket, listed over REST."""
