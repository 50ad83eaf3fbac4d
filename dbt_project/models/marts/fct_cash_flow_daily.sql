with

revenue as (

    select * from {{ ref('fct_daily_revenue') }}

),

snapshots as (

    select * from {{ ref('int_inventory_snapshots') }}

),

as_of as (

    select * from {{ ref('int_inventory_as_of') }}

),

purchases as (

    -- stock bought is only known where it shows: a rise in on_hand between two consecutive snapshots,
    -- costed at the later snapshot's unit cost and paid on that snapshot's date
    select
        tenant_id,
        snapshot_date as cash_date,
        sum((on_hand - previous_on_hand) * unit_cost) as outflow
    from snapshots
    where previous_on_hand is not null
        and on_hand > previous_on_hand
    group by tenant_id, snapshot_date

),

tenant_bounds as (

    select tenant_id, min(first_date) as first_date
    from (
        select tenant_id, min(revenue_date) as first_date from revenue group by tenant_id
        union all
        select tenant_id, min(cash_date) as first_date from purchases group by tenant_id
    ) as starts
    group by tenant_id

),

spine_days as (

    select
        tenant_bounds.tenant_id,
        {{ date_series('tenant_bounds.first_date', 'as_of.as_of_date') }} as day_ts
    from tenant_bounds
    inner join as_of
        on as_of.tenant_id = tenant_bounds.tenant_id

),

daily as (

    select
        spine_days.tenant_id,
        cast(spine_days.day_ts as date) as cash_date
    from spine_days

),

flows as (

    select
        daily.tenant_id,
        daily.cash_date,
        cast(coalesce(revenue.net_revenue, 0) as decimal(18, 2)) as inflow,
        cast(coalesce(purchases.outflow, 0) as decimal(18, 2)) as outflow
    from daily
    left join revenue
        on revenue.tenant_id = daily.tenant_id
        and revenue.revenue_date = daily.cash_date
    left join purchases
        on purchases.tenant_id = daily.tenant_id
        and purchases.cash_date = daily.cash_date

),

final as (

    select
        tenant_id,
        cash_date,
        inflow,
        outflow,
        inflow - outflow as net_cash_flow,
        cast(sum(inflow - outflow) over (
            partition by tenant_id order by cash_date rows between unbounded preceding and current row
        ) as decimal(18, 2)) as cumulative_net_cash_flow
    from flows

)

select * from final
