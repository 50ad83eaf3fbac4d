with

transactions as (

    select * from {{ ref('stg_raw__transactions') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    -- rows after the as-of date do not exist yet from the marts' point of view
    select
        transactions.*,
        as_of.as_of_date
    from transactions
    cross join as_of
    where transactions.transaction_date <= as_of.as_of_date

)

select * from final
