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
        product_id,
        transaction_date as sales_date,
        cast(sum(case when quantity > 0 then quantity else 0 end) as bigint) as quantity_sold,
        cast(sum(case when quantity < 0 then -quantity else 0 end) as bigint) as quantity_returned,
        cast(sum(quantity) as bigint) as net_quantity,
        sum(amount) as revenue,
        count(distinct invoice_id) as n_transactions
    from transactions
    group by tenant_id, product_id, transaction_date

),

products as (

    select
        tenant_id,
        product_id,
        min(sales_date) as first_sale_date
    from daily
    group by tenant_id, product_id

),

spine_days as (

    select
        products.tenant_id,
        products.product_id,
        {{ date_series('products.first_sale_date', 'as_of.as_of_date') }} as day_ts
    from products
    inner join as_of
        on as_of.tenant_id = products.tenant_id

),

spine as (

    select
        tenant_id,
        product_id,
        cast(day_ts as date) as sales_date
    from spine_days

),

final as (

    -- every day from the product's first sale to its tenant's as-of date, zeros included: forecasters need them
    select
        spine.tenant_id,
        spine.product_id,
        spine.sales_date,
        coalesce(daily.quantity_sold, 0) as quantity_sold,
        coalesce(daily.quantity_returned, 0) as quantity_returned,
        coalesce(daily.net_quantity, 0) as net_quantity,
        cast(coalesce(daily.revenue, 0) as decimal(18, 2)) as revenue,
        coalesce(daily.n_transactions, 0) as n_transactions
    from spine
    left join daily
        on daily.tenant_id = spine.tenant_id
        and daily.product_id = spine.product_id
        and daily.sales_date = spine.sales_date

)

select * from final
