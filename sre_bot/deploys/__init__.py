"""Bad-change detection: the `deploys:` config section and the watcher that judges every Argo CD sync."""
