"""The title's store: its catalog (items, bundles, offers), purchases with virtual currency and what
real-money products grant."""
