{#- Generic test: every non-NULL `column_name` names a row of table `to` (by `field`) in the same
    schema - a foreign key between two sources. dbt's `relationships` test would depend on both
    sources, and dagster-dbt can show a test as a check only when it belongs to one asset; this
    one belongs to the referencing table. -#}
{% test references(model, column_name, to, field) %}
SELECT s.{{ column_name }}
FROM {{ model }} AS s
WHERE s.{{ column_name }} IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM {{ model.database }}.{{ model.schema }}.{{ to }} AS t WHERE t.{{ field }} = s.{{ column_name }}
  )
{% endtest %}
