with

transactions as (

    select * from {{ ref('int_transactions_as_of') }}

),

named as (

    select
        tenant_id,
        product_id,
        product_name,
        -- latest non-null name wins; ties broken on stable row identity so both engines agree
        row_number() over (
            partition by tenant_id, product_id
            order by transaction_ts desc, invoice_id desc, _row_hash desc
        ) as recency_rank
    from transactions
    where product_name is not null

),

categorised as (

    select
        tenant_id,
        product_id,
        category,
        row_number() over (
            partition by tenant_id, product_id
            order by transaction_ts desc, invoice_id desc, _row_hash desc
        ) as recency_rank
    from transactions
    where category is not null

),

products as (

    select
        tenant_id,
        product_id,
        min(transaction_date) as first_sale_date,
        max(transaction_date) as last_sale_date,
        cast(sum(case when quantity > 0 then quantity else 0 end) as bigint) as units_sold,
        sum(case when quantity > 0 then amount else 0 end) as gross_revenue
    from transactions
    group by tenant_id, product_id

),

final as (

    select
        products.tenant_id,
        products.product_id,
        named.product_name,
        categorised.category,
        products.first_sale_date,
        products.last_sale_date,
        products.units_sold,
        products.gross_revenue
    from products
    left join named
        on named.tenant_id = products.tenant_id
        and named.product_id = products.product_id
        and named.recency_rank = 1
    left join categorised
        on categorised.tenant_id = products.tenant_id
        and categorised.product_id = products.product_id
        and categorised.recency_rank = 1

)

select * from final
