-- wrk: POST /v1/orders, each request with an Idempotency-Key of its own, as
-- a client that retries safely sends them. RUN_ID keeps the keys of one run
-- apart from the last's.
local thread_count = 0
function setup(thread)
    thread_count = thread_count + 1
    thread:set("thread_id", thread_count)
end

local sent = 0
local prefix
function init()
    prefix = (os.getenv("RUN_ID") or "bench") .. "-" .. thread_id .. "-"
end

local body = '{"customer_id":"bench-customer","items":[{"sku":"sku-1","qty":2}]}'
function request()
    sent = sent + 1
    return wrk.format("POST", "/v1/orders", {
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = prefix .. sent,
    }, body)
end
