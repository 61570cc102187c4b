"""Status: users follow others and hear when they come online, change status or go offline."""
