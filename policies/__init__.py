"""Every controller behind one interface (policies.base.Policy), found through POLICIES."""
