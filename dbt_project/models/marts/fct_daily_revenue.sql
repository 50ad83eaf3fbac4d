with

transactions as (

    select * from {{ ref('int_transactions_as_of') }}

),

as_of as (

    select * from {{ ref('int_tenant_as_of') }}

),

daily as (

    select
        tenant_id,
        transaction_date as revenue_date,
        sum(case when not is_return then amount else 0 end) as gross_revenue,
        -- returns as a positive value refunded
        sum(case when is_return then -amount else 0 end) as returns_value,
        sum(amount) as net_revenue,
        count(distinct invoice_id) as n_invoices,
        count(distinct customer_id) as n_customers
    from transactions
    group by tenant_id, transaction_date

),

tenants as (

    select
        tenant_id,
        min(revenue_date) as first_date
    from daily
    group by tenant_id

),

spine_days as (

    select
        tenants.tenant_id,
        {{ date_series('tenants.first_date', 'as_of.as_of_date') }} as day_ts
    from tenants
    inner join as_of
        on as_of.tenant_id = tenants.tenant_id

),

spine as (

    select
        tenant_id,
        cast(day_ts as date) as revenue_date
    from spine_days

),

final as (

    -- the tenant's active range: first transaction day to its own as-of date, quiet days as zeros
    select
        spine.tenant_id,
        spine.revenue_date,
        cast(coalesce(daily.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(daily.returns_value, 0) as decimal(18, 2)) as returns_value,
        cast(coalesce(daily.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        coalesce(daily.n_invoices, 0) as n_invoices,
        coalesce(daily.n_customers, 0) as n_customers
    from spine
    left join daily
        on daily.tenant_id = spine.tenant_id
        and daily.revenue_date = spine.revenue_date

)

select * from final
