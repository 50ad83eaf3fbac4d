with

source as (

    select landed.*
    from {{ source('raw', 'inventory') }} as landed
    {{ without_held_batches('inventory', 'landed') }}

),

renamed as (

    select
        tenant_id,
        product_id,
        cast(snapshot_date as date) as snapshot_date,
        cast(on_hand as integer) as on_hand,
        -- four places: unit costs of cheap goods are often quoted below the cent
        {{ to_money('unit_cost', 4) }} as unit_cost,
        cast(lead_time_days as integer) as lead_time_days,
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
