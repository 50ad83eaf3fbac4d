with

snapshots as (

    select * from {{ ref('int_inventory_snapshots') }}

),

metrics as (

    select * from {{ ref('product_sales_metrics') }}

),

latest as (

    -- int_inventory_snapshots stops at the tenant's as-of date, so the snapshot without a successor is the latest
    select * from snapshots
    where next_snapshot_date is null

),

final as (

    select
        latest.tenant_id,
        latest.product_id,
        latest.as_of_date,
        latest.snapshot_date,
        latest.on_hand,
        latest.unit_cost,
        latest.lead_time_days,
        cast(latest.on_hand * latest.unit_cost as decimal(18, 2)) as stock_value,
        metrics.avg_daily_sales_30d,
        -- on_hand / (units sold in the window / days observed), rounded exactly; null without recent sales
        cast(case
            when metrics.sales_last_30d > 0
                then {{ div_round('latest.on_hand * metrics.days_observed_30d', 'metrics.sales_last_30d', 1) }}
        end as decimal(18, 1)) as days_of_cover
    from latest
    left join metrics
        on metrics.tenant_id = latest.tenant_id
        and metrics.product_id = latest.product_id

)

select * from final
