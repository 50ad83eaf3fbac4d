with

daily as (

    select * from {{ ref('fct_daily_product_sales') }}

),

as_of as (

    select * from {{ ref('int_tenant_as_of') }}

),

per_product as (

    select
        daily.tenant_id,
        daily.product_id,
        as_of.as_of_date,
        min(daily.sales_date) as first_sale_date,
        sum(case when daily.sales_date > {{ add_days('as_of.as_of_date', -7) }}
            then daily.quantity_sold else 0 end) as sales_last_7d,
        sum(case when daily.sales_date > {{ add_days('as_of.as_of_date', -30) }}
            then daily.quantity_sold else 0 end) as sales_last_30d,
        sum(case when daily.sales_date > {{ add_days('as_of.as_of_date', -30) }}
            then daily.revenue else 0 end) as revenue_last_30d,
        max(case when daily.quantity_sold > 0 then daily.sales_date end) as last_sale_date
    from daily
    inner join as_of
        on as_of.tenant_id = daily.tenant_id
    group by daily.tenant_id, daily.product_id, as_of.as_of_date

),

with_days as (

    select
        per_product.*,
        -- a product launched 10 days ago has 10 days of history, not 30
        least(30, {{ dbt.datediff('first_sale_date', 'as_of_date', 'day') }} + 1) as days_observed_30d
    from per_product

),

final as (

    select
        tenant_id,
        product_id,
        as_of_date,
        cast(sales_last_7d as bigint) as sales_last_7d,
        cast(sales_last_30d as bigint) as sales_last_30d,
        days_observed_30d,
        {{ div_round('sales_last_30d', 'days_observed_30d', 4) }} as avg_daily_sales_30d,
        cast(revenue_last_30d as decimal(18, 2)) as revenue_last_30d,
        last_sale_date,
        {{ dbt.datediff('last_sale_date', 'as_of_date', 'day') }} as days_since_last_sale
    from with_days

)

select * from final
