with

invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

as_of as (

    select * from {{ ref('int_tenant_as_of') }}

),

windowed as (

    select
        invoices.*,
        as_of.as_of_date,
        -- the churn window is (as_of - 90 days, as_of], on the customer's own tenant's as-of
        {{ add_days('as_of.as_of_date', -90) }} as window_start_date
    from invoices
    inner join as_of
        on as_of.tenant_id = invoices.tenant_id

),

per_customer as (

    select
        tenant_id,
        customer_id,
        max(as_of_date) as as_of_date,
        max(window_start_date) as window_start_date,
        min(case when is_purchase then invoice_date end) as first_purchase_date,
        max(case when is_purchase then invoice_date end) as last_purchase_date,
        count(distinct case when is_purchase then invoice_id end) as frequency,
        -- net of returns, including return-only invoices
        sum(net_amount) as monetary,
        count(distinct case when is_purchase and invoice_date > window_start_date then invoice_id end)
            as frequency_last_90d,
        count(distinct case when is_purchase and invoice_date <= window_start_date then invoice_id end)
            as purchases_before_window
    from windowed
    group by tenant_id, customer_id

),

final as (

    select
        tenant_id,
        customer_id,
        as_of_date,
        first_purchase_date,
        last_purchase_date,
        {{ dbt.datediff('last_purchase_date', 'as_of_date', 'day') }} as recency_days,
        frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        frequency_last_90d,
        purchases_before_window,
        -- the span the earlier purchases are spread over, at least one 90-day window
        greatest({{ dbt.datediff('first_purchase_date', 'window_start_date', 'day') }}, 90)
            as days_before_window
    from per_customer
    -- customers whose only activity is returns have no purchase to score
    where frequency > 0

)

select * from final
