from overworld.api.http.routes import (
    account,
    authenticate,
    chat,
    events,
    friends,
    groups,
    leaderboards,
    live_events,
    matches,
    ops,
    parties,
    privacy,
    rpc,
    session,
    storage,
    users,
    wallets,
)

ROUTES = [
    *authenticate.ROUTES, *session.ROUTES, *account.ROUTES, *users.ROUTES, *storage.ROUTES, *rpc.ROUTES,
    *chat.ROUTES, *events.ROUTES, *friends.ROUTES, *groups.ROUTES, *leaderboards.ROUTES, *live_events.ROUTES,
    *matches.ROUTES, *parties.ROUTES, *ops.ROUTES, *wallets.ROUTES,
    *privacy.ROUTES,
]  # fmt: skip
