with

transactions as (

    select * from {{ ref('int_transactions_as_of') }}

),

invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

products as (

    select * from {{ ref('int_product_attributes') }}

),

per_customer as (

    select
        tenant_id,
        customer_id,
        min(case when is_purchase then invoice_date end) as first_purchase_date,
        max(case when is_purchase then invoice_date end) as last_purchase_date,
        count(distinct invoice_id) as lifetime_invoices,
        count(distinct case when is_purchase then invoice_id end) as lifetime_purchases,
        sum(net_amount) as lifetime_net_revenue
    from invoices
    group by tenant_id, customer_id

),

category_spend as (

    -- the product's current category, since older receipts often lack it
    select
        transactions.tenant_id,
        transactions.customer_id,
        products.category,
        sum(transactions.amount) as net_spend
    from transactions
    inner join products
        on products.tenant_id = transactions.tenant_id
        and products.product_id = transactions.product_id
    where transactions.customer_id is not null
        and products.category is not null
    group by transactions.tenant_id, transactions.customer_id, products.category

),

favourite as (

    select
        tenant_id,
        customer_id,
        category,
        row_number() over (
            partition by tenant_id, customer_id order by net_spend desc, category
        ) as spend_rank
    from category_spend
    where net_spend > 0

),

final as (

    select
        per_customer.tenant_id,
        per_customer.customer_id,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date,
        per_customer.lifetime_invoices,
        per_customer.lifetime_purchases,
        cast(per_customer.lifetime_net_revenue as decimal(18, 2)) as lifetime_net_revenue,
        favourite.category as favourite_category
    from per_customer
    left join favourite
        on favourite.tenant_id = per_customer.tenant_id
        and favourite.customer_id = per_customer.customer_id
        and favourite.spend_rank = 1

)

select * from final
