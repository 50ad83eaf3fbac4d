with

as_of as (

    select * from {{ ref('int_tenant_as_of') }}

),

transactions as (

    select * from {{ ref('stg_raw__transactions') }}

),

activity as (

    -- what the marts see (up to the as-of date) and what they leave out (after it)
    select
        transactions.tenant_id,
        sum(case when transactions.transaction_date <= as_of.as_of_date then 1 else 0 end)
            as transaction_lines,
        count(distinct case when transactions.transaction_date <= as_of.as_of_date
            then transactions.invoice_id end) as invoices,
        count(distinct case when transactions.transaction_date <= as_of.as_of_date
            then transactions.customer_id end) as customers,
        count(distinct case when transactions.transaction_date <= as_of.as_of_date
            then transactions.product_id end) as products,
        sum(case when transactions.transaction_date > as_of.as_of_date then 1 else 0 end)
            as transaction_lines_after_as_of
    from transactions
    inner join as_of
        on as_of.tenant_id = transactions.tenant_id
    group by transactions.tenant_id

),

final as (

    select
        as_of.tenant_id,
        as_of.as_of_date,
        as_of.as_of_source,
        as_of.first_transaction_date,
        as_of.last_transaction_date,
        cast(activity.transaction_lines as bigint) as transaction_lines,
        cast(activity.invoices as bigint) as invoices,
        cast(activity.customers as bigint) as customers,
        cast(activity.products as bigint) as products,
        cast(activity.transaction_lines_after_as_of as bigint) as transaction_lines_after_as_of
    from as_of
    inner join activity
        on activity.tenant_id = as_of.tenant_id

)

select * from final
