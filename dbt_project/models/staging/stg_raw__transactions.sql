with

source as (

    select landed.*
    from {{ source('raw', 'transactions') }} as landed
    {{ without_held_batches('transactions', 'landed') }}

),

renamed as (

    select
        tenant_id,
        invoice_id,
        cast(transaction_ts as timestamp) as transaction_ts,
        cast(transaction_ts as date) as transaction_date,
        -- a blank customer number is a walk-in sale
        nullif(trim(customer_id), '') as customer_id,
        product_id,
        nullif(trim(product_name), '') as product_name,
        nullif(trim(category), '') as category,
        cast(quantity as integer) as quantity,
        {{ to_money('unit_price') }} as unit_price,
        -- money as exact decimals so sums agree to the cent on every engine; the sign of the line total
        -- follows the quantity because some tills print returns with a positive amount
        case
            when quantity < 0 then -abs({{ to_money('coalesce(amount, quantity * unit_price)') }})
            else {{ to_money('coalesce(amount, quantity * unit_price)') }}
        end as amount,
        quantity < 0 as is_return,
        nullif(trim(payment_method), '') as payment_method,
        nullif(upper(trim(currency)), '') as currency,
        _source_file,
        _row_number,
        _row_hash,
        _ingested_at

    from source

),

final as (

    select * from renamed

)

select * from final
