with

transactions as (

    select * from {{ ref('int_transactions_as_of') }}

),

final as (

    -- one row per customer invoice; walk-in sales have no customer and are left out
    select
        tenant_id,
        customer_id,
        invoice_id,
        min(transaction_date) as invoice_date,
        sum(amount) as net_amount,
        -- an invoice with at least one sold line is a purchase; a pure return invoice is not
        max(case when quantity > 0 then 1 else 0 end) = 1 as is_purchase
    from transactions
    where customer_id is not null
    group by tenant_id, customer_id, invoice_id

)

select * from final
