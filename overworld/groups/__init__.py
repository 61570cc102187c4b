"""Groups: creation, membership with roles (superadmin, admin, member), join requests, bans."""
