"""物资申领: the catalog and cart, requisitions and their approvals, the stock."""
