-- pgbench: the api's create as PostgreSQL's own bound, the same writes in
-- one prepared statement (the order and its two jobs in one `with … insert`)
-- plus the notify, with no HTTP, no JSON and no pool in between.
with new_order as (
    insert into orders (id, customer_id, items, idempotency_key, request_hash)
    values (gen_random_uuid(), 'bench-customer', '[{"sku":"sku-1","qty":2}]',
            gen_random_uuid()::text, 'bench')
    returning id
), new_jobs as (
    insert into jobs (kind, payload, max_attempts, run_at)
    select kind, jsonb_build_object('order_id', new_order.id), 25, now()
    from new_order, (values ('fulfil_order'), ('send_receipt')) as kinds(kind)
    returning id
)
select pg_notify('jobs_available', '') from (select from new_jobs limit 1) as any_job;
