"""The business rules that more than one place applies, each defined once.

`dunning`: which invoices entered dunning and which are in it now; `mrr`: a price's
monthly recurring revenue, exactly, and the one rounding; `links`: which audit
outcomes mean a portal link was made. The definitions are docs/METRICS.md's;
tests/rules check that every place that shows one of these agrees.
"""
