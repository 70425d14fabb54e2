"""Portal links: what a link depends on (`context`), the Stripe call (`portal`), the email
(`mail`), its delivery through the outbox (`delivery`), and the request's rules (`requests`)."""
