with

source as (

    select landed.*
    from {{ source('raw', 'diamond_prices') }} as landed
    {{ without_held_batches('diamond_prices', 'landed', tenant_column=none) }}

),

renamed as (

    select
        -- the row hash is unique after ingestion de-duplication and stable across reloads
        _row_hash as diamond_id,
        carat,
        trim(cut) as cut,
        upper(trim(color)) as color,
        upper(trim(clarity)) as clarity,
        price,
        depth,
        "table" as table_pct,
        x as length_mm,
        y as width_mm,
        z as depth_mm,
        cast("date" as date) as price_date,
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
