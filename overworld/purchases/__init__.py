"""In-app purchases and subscriptions: store receipts validated, recorded and granted once."""
