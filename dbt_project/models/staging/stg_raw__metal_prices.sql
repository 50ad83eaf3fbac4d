with

source as (

    select landed.*
    from {{ source('raw', 'metal_prices') }} as landed
    {{ without_held_batches('metal_prices', 'landed', tenant_column=none) }}

),

renamed as (

    select
        cast("date" as date) as price_date,
        lower(trim(metal)) as metal,
        cast(purity as integer) as purity,
        -- kept as the landed double: no arithmetic happens on it here, so both engines hold the same value
        price_per_gram,
        upper(trim(currency)) as currency,
        nullif(trim(source), '') as source,
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
