from overworld.api.http.routes import account, authenticate, ops, rpc, session, storage, users

ROUTES = [
    *authenticate.ROUTES, *session.ROUTES, *account.ROUTES, *users.ROUTES, *storage.ROUTES, *rpc.ROUTES,
    *ops.ROUTES,
]  # fmt: skip
