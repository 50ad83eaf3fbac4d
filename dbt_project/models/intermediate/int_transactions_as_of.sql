with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}

),

as_of as (

    select * from {{ ref('int_tenant_as_of') }}

),

final as (

    -- rows after the tenant's as-of date do not exist yet from the marts' point of view
    select
        transactions.*,
        as_of.as_of_date
    from transactions
    inner join as_of
        on as_of.tenant_id = transactions.tenant_id
    where transactions.transaction_date <= as_of.as_of_date

)

select * from final
