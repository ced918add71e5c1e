-- A push subscription belongs to one user: the same endpoint registered by a
-- second user is a second row, not a takeover of the first user's. Rows are
-- looked up, capped and deleted per user, so (user_id, endpoint) replaces both
-- the endpoint key and the user index.
ALTER TABLE push_subscriptions DROP CONSTRAINT push_subscriptions_endpoint_key;
DROP INDEX push_subscriptions_user_idx;
ALTER TABLE push_subscriptions
    ADD CONSTRAINT push_subscriptions_user_endpoint_key UNIQUE (user_id, endpoint);
