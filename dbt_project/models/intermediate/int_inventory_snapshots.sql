with

inventory as (

    select * from {{ ref('stg_raw__inventory') }}

),

as_of as (

    select * from {{ ref('int_inventory_as_of') }}

),

ranked as (

    select
        inventory.*,
        as_of.as_of_date,
        -- two files can report the same product and day; the latest load wins
        row_number() over (
            partition by inventory.tenant_id, inventory.product_id, inventory.snapshot_date
            order by inventory._ingested_at desc, inventory._source_file desc, inventory._row_number desc
        ) as load_rank
    from inventory
    inner join as_of
        on as_of.tenant_id = inventory.tenant_id
    where inventory.snapshot_date <= as_of.as_of_date

),

final as (

    select
        tenant_id,
        product_id,
        as_of_date,
        snapshot_date,
        on_hand,
        unit_cost,
        lead_time_days,
        lag(on_hand) over (
            partition by tenant_id, product_id order by snapshot_date
        ) as previous_on_hand,
        lead(snapshot_date) over (
            partition by tenant_id, product_id order by snapshot_date
        ) as next_snapshot_date
    from ranked
    where load_rank = 1

)

select * from final
