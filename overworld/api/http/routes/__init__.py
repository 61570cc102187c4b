from overworld.api.http.routes import account, authenticate, ops, session, storage, users

ROUTES = [*authenticate.ROUTES, *session.ROUTES, *account.ROUTES, *users.ROUTES, *storage.ROUTES, *ops.ROUTES]
